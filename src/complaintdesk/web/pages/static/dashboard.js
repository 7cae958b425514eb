// Draws the dashboard's charts from the numbers the page carries (#dashboard-data).
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var charts = [];
    function chart(id, option) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var c = echarts.init(el, null, { renderer: "svg" });
      c.setOption(option);
      charts.push(c);
    }
    var grid = { left: 40, right: 48, top: 24, bottom: 40, containLabel: true };
    chart("chart-volume", {
      grid: grid, tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.volume.labels },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "line", name: data.volume.title, data: data.volume.values, areaStyle: {}, showSymbol: false }]
    });
    ["nature", "category", "channel"].forEach(function (name) {
      chart("chart-" + name, {
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "70%"], data: data[name] }]
      });
    });
    chart("chart-rates", {
      grid: grid, tooltip: { trigger: "axis" },
      xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: data.rates.map(function (r) { return r.name; }) },
      series: [{ type: "bar", data: data.rates.map(function (r) { return r.value; }), label: { show: true, position: "right", formatter: "{c}%" } }]
    });
    var pairs = data.pairs.slice().reverse();
    chart("chart-pairs", {
      grid: grid, tooltip: { trigger: "axis" },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: pairs.map(function (p) { return p.name; }) },
      series: [{ type: "bar", data: pairs.map(function (p) { return p.value; }) }]
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    document.body.setAttribute("data-charts-ready", String(charts.length));
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
