'use strict';
// The cockpit on the console's home: the period picker sends itself, and each chart is drawn from the data
// the page carries in a <script type="application/json"> (Django's json_script); the table under each chart
// has the same numbers.
{
    const PALETTE = ['#2a9d8f', '#e76f51', '#457b9d', '#e9c46a', '#8e6bbf', '#6a994e', '#d16a9a', '#8d99ae'];

    function cssVar(name, fallback) {
        const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
        return value || fallback;
    }

    function themeColors() {
        return {
            text: getComputedStyle(document.body).color,
            grid: cssVar('--hairline-color', '#e5e5e5'),
            border: cssVar('--border-color', '#cccccc'),
        };
    }

    function optionsFor(config, colors) {
        const meta = config.oms || {};
        const units = meta.units || [];
        const axis = (unit, position) => ({
            position: position,
            stacked: Boolean(meta.stacked),
            beginAtZero: true,
            max: unit === '%' ? 100 : undefined,
            title: {display: Boolean(unit), text: unit || '', color: colors.text},
            ticks: {color: colors.text},
            grid: {color: colors.grid, drawOnChartArea: position === 'left'},
        });
        const scales = {
            x: {stacked: Boolean(meta.stacked), ticks: {color: colors.text}, grid: {color: colors.grid}},
            y: axis(units[0], 'left'),
        };
        if (units.length > 1) {
            scales.y1 = axis(units[1], 'right');
        }
        return {
            responsive: true,
            maintainAspectRatio: false,
            animation: false,
            interaction: {mode: 'index', intersect: false},
            plugins: {legend: {labels: {color: colors.text, boxWidth: 12}}},
            scales: scales,
        };
    }

    function dataFor(config) {
        const datasets = config.data.datasets.map((dataset, index) => {
            const color = PALETTE[index % PALETTE.length];
            // A second unit (the counts beside an on-time rate) is drawn as marks over the bars, not joined:
            // its labels are warehouses or vendors, not a time line.
            const second = dataset.yAxisID === 'y1';
            const line = config.type === 'line' || second;
            return Object.assign({}, dataset, {
                type: line ? 'line' : 'bar',
                backgroundColor: color,
                borderColor: color,
                borderWidth: line ? 2 : 0,
                showLine: !second,
                pointRadius: second ? 6 : (line ? 2 : 0),
                pointStyle: second ? 'rectRot' : 'circle',
                spanGaps: true,
            });
        });
        return {labels: config.data.labels, datasets: datasets};
    }

    const charts = [];

    function drawCharts() {
        if (typeof window.Chart === 'undefined') {
            return;
        }
        const colors = themeColors();
        document.querySelectorAll('canvas[data-chart]').forEach((canvas) => {
            const source = document.getElementById(canvas.dataset.chart);
            if (source === null) {
                return;
            }
            const config = JSON.parse(source.textContent);
            const chart = new window.Chart(canvas, {
                type: config.type,
                data: dataFor(config),
                options: optionsFor(config, colors),
            });
            chart.omsConfig = config;
            charts.push(chart);
            canvas.dataset.drawn = 'true';
        });
    }

    function recolour() {
        const colors = themeColors();
        charts.forEach((chart) => {
            chart.options = optionsFor(chart.omsConfig, colors);
            chart.update('none');
        });
    }

    function wirePicker() {
        const form = document.getElementById('cockpit-filters');
        if (form === null) {
            return;
        }
        const period = document.getElementById('cockpit-period');
        const dates = document.getElementById('cockpit-dates');
        const dateInputs = dates.querySelectorAll('input');
        function showDates() {
            const custom = period.value === 'custom';
            dates.hidden = !custom;
            // Only a custom period sends its dates: the address of a named period stays short.
            dateInputs.forEach((input) => { input.disabled = !custom; });
        }
        showDates();
        period.addEventListener('change', function() {
            showDates();
            if (period.value !== 'custom') {
                form.requestSubmit();
            }
        });
        ['cockpit-channel', 'cockpit-warehouse'].forEach((id) => {
            document.getElementById(id).addEventListener('change', () => form.requestSubmit());
        });
    }

    document.addEventListener('DOMContentLoaded', function() {
        wirePicker();
        drawCharts();
        new MutationObserver(recolour).observe(document.documentElement, {attributes: true, attributeFilter: ['data-theme']});
        window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', recolour);
    });
}
