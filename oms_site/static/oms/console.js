'use strict';
// Every console page: the sidebar's open or closed state, and "/" to search.
// Loaded in <head> without defer, so the remembered sidebar state is set before the page is drawn.
{
    const NAV_KEY = 'oms.nav';
    const NARROW = window.matchMedia('(max-width: 767px)');
    const root = document.documentElement;
    const stored = localStorage.getItem(NAV_KEY);
    if (stored === 'open' || stored === 'closed') {
        root.dataset.omsNav = stored;
    }

    function groupsShown() {
        const groups = document.getElementById('oms-nav-groups');
        return groups !== null && groups.offsetParent !== null;
    }

    function syncToggle() {
        const toggle = document.getElementById('oms-nav-toggle');
        if (toggle !== null) {
            toggle.setAttribute('aria-expanded', groupsShown() ? 'true' : 'false');
        }
    }

    function toggleNav() {
        if (NARROW.matches) {
            // On a phone the menu opens over the page's top for this page only.
            root.classList.toggle('oms-nav-shown');
        } else {
            const next = groupsShown() ? 'closed' : 'open';
            root.dataset.omsNav = next;
            localStorage.setItem(NAV_KEY, next);
        }
        syncToggle();
    }

    function typing(target) {
        if (!(target instanceof Element)) {
            return false;
        }
        return target.isContentEditable || target.closest('input, textarea, select, [contenteditable]') !== null;
    }

    function searchBox() {
        const box = document.getElementById('searchbar');
        return box !== null && box.offsetParent !== null ? box : null;
    }

    function onKey(event) {
        if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
            return;
        }
        const box = searchBox();
        if (box !== null) {
            event.preventDefault();
            box.focus();
            box.select();
            return;
        }
        const meta = document.querySelector('meta[name="oms-search-url"]');
        if (meta !== null) {
            event.preventDefault();
            window.location.assign(meta.content + '#search');
        }
    }

    document.addEventListener('DOMContentLoaded', function() {
        const toggle = document.getElementById('oms-nav-toggle');
        if (toggle !== null) {
            toggle.addEventListener('click', toggleNav);
            syncToggle();
            NARROW.addEventListener('change', syncToggle);
        }
        document.addEventListener('keydown', onKey);
        const box = document.getElementById('searchbar');
        if (box !== null) {
            box.setAttribute('aria-keyshortcuts', '/');
            box.title = box.title || 'Press / to search from anywhere on the page';
        }
        if (window.location.hash === '#search' && searchBox() !== null) {
            searchBox().focus();
        }
    });
}
