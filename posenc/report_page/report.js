// The glue of a posenc report page: a click on a plotted point or a table row shows that
// run (its settings and its reconstruction beside the ground truth); a click on a table
// header sorts the table by that column. Everything it shows is embedded in the page.
(function () {
  "use strict";
  const source = document.getElementById("report-data");
  const report = source ? JSON.parse(source.textContent) : { runs: {}, truths: {} };

  function showRun(key) {
    const run = report.runs[key];
    if (!run) return;
    const panel = document.getElementById("run-detail");
    panel.dataset.run = key;
    panel.querySelector(".placeholder").hidden = true;
    document.getElementById("run-title").textContent = run.title;
    document.getElementById("run-settings").textContent = run.settings;
    const images = document.getElementById("run-images");
    const curve = document.getElementById("run-curve");
    images.hidden = !run.reconstruction;
    curve.hidden = !run.curve;
    if (run.reconstruction) {
      const truth = report.truths[run.truth];
      const truthImage = document.getElementById("run-truth");
      truthImage.parentNode.hidden = !truth; // a ground truth that could not be loaded
      if (truth) truthImage.src = truth;
      document.getElementById("run-reconstruction").src = run.reconstruction;
    }
    if (run.curve) {
      Plotly.react(curve, run.curve.data, run.curve.layout, report.plot_config);
    }
    document.querySelectorAll("tr[data-run]").forEach(function (row) {
      row.classList.toggle("selected", row.dataset.run === key);
    });
  }

  function sortTable(table, column, header) {
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const numeric = header.dataset.type === "number";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = a.cells[column].dataset.value;
      const y = b.cells[column].dataset.value;
      if (x === "" || y === "") return (x === "") - (y === ""); // missing values last
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  window.addEventListener("load", function () {
    document.querySelectorAll(".js-plotly-plot").forEach(function (plot) {
      plot.on("plotly_click", function (event) {
        showRun(event.points[0].customdata);
      });
    });
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th").forEach(function (header, column) {
        header.addEventListener("click", function () { sortTable(table, column, header); });
      });
      table.querySelectorAll("tr[data-run]").forEach(function (row) {
        row.addEventListener("click", function () { showRun(row.dataset.run); });
      });
    });
  });
})();
