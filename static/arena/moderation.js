// Moderation pages: "select all" for the bulk forms, and a count of what is selected.
(() => {
  for (const form of document.querySelectorAll("form[data-bulk]")) {
    const all = form.querySelector("[data-select-all]");
    const boxes = [...form.querySelectorAll('input[type=checkbox][name="ids"]')];
    const count = form.querySelector("[data-selected-count]");
    const update = () => {
      const n = boxes.filter((b) => b.checked).length;
      if (count) count.textContent = n ? `${n} selected` : "nothing selected";
      if (all) {
        all.checked = n === boxes.length && n > 0;
        all.indeterminate = n > 0 && n < boxes.length;
      }
    };
    all?.addEventListener("change", () => {
      for (const b of boxes) b.checked = all.checked;
      update();
    });
    for (const b of boxes) b.addEventListener("change", update);
    form.addEventListener("submit", (event) => {
      if (!boxes.some((b) => b.checked)) {
        event.preventDefault();
        if (count) count.textContent = "select at least one row first";
      }
    });
    update();
  }
})();
