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
