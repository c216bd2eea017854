// Sortable leaderboard table: click a column header (or press Enter on it) to sort.
(() => {
  "use strict";
  document.querySelectorAll("table.sortable").forEach((table) => {
    const headers = [...table.tHead.rows[0].cells];
    headers.forEach((th, column) => {
      const kind = th.dataset.sort;
      const button = th.querySelector("button");
      if (!kind || !button) return;
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = [...body.rows];
        const key = (row) => {
          const cell = row.cells[column];
          return kind === "num" ? parseFloat(cell.dataset.value ?? cell.textContent) : cell.textContent.trim().toLowerCase();
        };
        rows.sort((a, b) => {
          const [x, y] = [key(a), key(b)];
          const order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  });
})();
