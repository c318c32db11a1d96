// Progressive enhancement only: every page works without it.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.classList.contains("confirm") && !window.confirm(form.dataset.confirm || "Are you sure?")) {
    event.preventDefault();
  }
});
document.addEventListener("change", (event) => {
  const input = event.target;
  if (input.type === "file" && input.dataset.fill && input.files.length) {
    input.files[0].text().then((text) => { document.getElementById(input.dataset.fill).value = text; });
  }
});
document.addEventListener("DOMContentLoaded", () => {
  const body = document.getElementById("entity-body");
  if (body) {
    try { body.value = JSON.stringify(JSON.parse(body.value), null, 2); } catch (e) { /* leave it */ }
  }
});
