// The brand's logo, when the OMS could not fetch it from the store's site: the brand's name in its place.
const showBrandName = (logo) => {
  const name = document.createElement("span");
  name.textContent = logo.alt;
  logo.replaceWith(name);
};
document.querySelectorAll("img.sp-logo").forEach((logo) => {
  if (logo.complete && logo.naturalWidth === 0) showBrandName(logo);
  else logo.addEventListener("error", () => showBrandName(logo));
});

// The return form on the order status page: the "Exchange for" choices show only while an exchange is chosen.
// Without this script every choice stays visible and the form works the same.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector(".sp-form");
  if (!form) return;
  const exchanges = form.querySelectorAll(".sp-exchange");
  const sync = () => {
    const chosen = form.querySelector("input[name=resolution]:checked");
    const exchanging = chosen !== null && chosen.value === "exchange";
    exchanges.forEach((block) => {
      block.hidden = !exchanging;
    });
  };
  form.querySelectorAll("input[name=resolution]").forEach((radio) => radio.addEventListener("change", sync));
  sync();
});
