// The dashboard's charts, drawn with Chart.js from the report the page embeds.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const names = data.names || {};
  const blue = "#1f5fa8", red = "#c23b22", grey = "#9aa3ad";
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  Chart.defaults.animation = false;

  const byTouchpoint = data.groups.filter((g) => g.nps !== null);
  new Chart(document.getElementById("chart-nps"), {
    data: {
      labels: byTouchpoint.map((g) => names[g.touchpoint] || g.touchpoint),
      datasets: [
        {
          type: "bar",
          label: "95% confidence interval",
          data: byTouchpoint.map((g) => [g.nps_low, g.nps_high]),
          backgroundColor: byTouchpoint.map((g) => (g.low_sample ? "#d6dbe1" : "#b9d0ea")),
          barPercentage: 0.35,
        },
        {
          type: "line",
          label: "NPS",
          data: byTouchpoint.map((g) => g.nps),
          showLine: false,
          pointBackgroundColor: byTouchpoint.map((g) => (g.nps < 0 ? red : blue)),
          pointBorderColor: byTouchpoint.map((g) => (g.nps < 0 ? red : blue)),
          backgroundColor: blue,
          pointRadius: 6,
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { min: -100, max: 100, title: { display: true, text: "NPS" } } },
      plugins: { legend: { position: "bottom" } },
    },
  });

  const trend = data.trend.filter((p) => p.nps !== null);
  new Chart(document.getElementById("chart-trend"), {
    type: "line",
    data: {
      labels: trend.map((p) => p.period),
      datasets: [
        {
          label: "NPS",
          data: trend.map((p) => p.nps),
          borderColor: blue,
          pointBackgroundColor: trend.map((p) => (p.low_sample ? grey : blue)),
          pointRadius: 4,
          tension: 0.2,
        },
        {
          label: "95% CI (low)",
          data: trend.map((p) => p.nps_low),
          borderColor: "transparent",
          pointRadius: 0,
          fill: false,
        },
        {
          label: "95% CI",
          data: trend.map((p) => p.nps_high),
          borderColor: "transparent",
          backgroundColor: "rgba(31, 95, 168, 0.15)",
          pointRadius: 0,
          fill: "-1",
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { min: -100, max: 100 } },
      plugins: {
        legend: { position: "bottom", labels: { filter: (item) => item.text !== "95% CI (low)" } },
      },
    },
  });

  const drivers = data.drivers.filter((d) => d.difference !== null);
  new Chart(document.getElementById("chart-drivers"), {
    type: "bar",
    data: {
      labels: drivers.map((d) => (data.theme_labels || {})[d.theme] || d.theme),
      datasets: [
        {
          label: "NPS difference (mentions − the rest)",
          data: drivers.map((d) => d.difference),
          backgroundColor: drivers.map((d) => (d.difference < 0 ? red : blue)),
        },
      ],
    },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } },
    },
  });
  document.body.dataset.chartsReady = "true";
})();
