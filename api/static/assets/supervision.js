// The supervisors' page (supervision.html): draws /v1/supervision/stats for the token holder.
"use strict";
const RATES = [
  ["response_rate", "响应率 response", "--response"],
  ["resolution_rate", "解决率 resolution", "--resolution"],
  ["satisfaction_rate", "满意率 satisfaction", "--satisfaction"],
  ["on_time_rate", "按时率 on time", "--ontime"],
];
const COLUMNS = [["filed", "filed 受理"], ["responded", "responded"], ["closed", "closed 办结"], ["resolved", "resolved 解决"],
                 ["escalations", "escalations 上报"], ["overdue_now", "overdue now 超期"]];
const $ = (id) => document.getElementById(id);
const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%");
const color = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const el = (tag, attrs = {}, text = "") => {
  const node = document.createElementNS(tag === "svg" || attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== "svg") node.setAttribute(k, v);
  if (text !== "") node.textContent = text;
  return node;
};

function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("linli-token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);  // keep the token out of the address bar
  }
  return sessionStorage.getItem("linli-token");
}

function showLogin(message) {
  $("report").hidden = true;
  $("login").hidden = false;
  $("message").textContent = message || "";
}

// The urgency filter lives in the page's address (?urgency=, like ?unit=, ?from=, ?to=), so a filtered view
// can be bookmarked and shared, and the address's query is what the stats request is asked with.
function chooseUrgency() {
  const params = new URLSearchParams(location.search);
  if ($("urgency").value) params.set("urgency", $("urgency").value);
  else params.delete("urgency");
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  load().catch((error) => showLogin(String(error)));
}

async function load() {
  const token = takeToken();
  if (!token) return showLogin();
  $("urgency").value = new URLSearchParams(location.search).get("urgency") || "";
  const response = await fetch("/v1/supervision/stats" + location.search, { headers: { Authorization: "Bearer " + token } });
  if (response.status === 401) { sessionStorage.removeItem("linli-token"); return showLogin("That token is unknown or revoked."); }
  const body = await response.json();
  if (!response.ok) return showLogin(body.detail || response.statusText);
  render(body);
}

function render(report) {
  $("login").hidden = true;
  $("report").hidden = false;
  const urgency = report.urgency ? ` · ${$("urgency").selectedOptions[0]?.textContent ?? report.urgency}` : "";
  $("scope").textContent = `${report.total.name}${urgency} · ${report.items.length} units`;
  const t = report.total;
  $("cards").replaceChildren(...[
    [t.filed, "cases filed 受理"], [t.closed, "closed 办结"], [pct(t.response_rate), "response rate 响应率"],
    [pct(t.satisfaction_rate), "satisfaction 满意率"], [t.overdue_now, "overdue now 超期"],
  ].map(([n, label], i) => {
    const card = el("div", { class: "card" + (i === 4 && t.overdue_now > 0 ? " late" : "") });
    card.append(el("div", { class: "n" }, String(n)), el("div", { class: "label" }, label));
    return card;
  }));
  renderTable(report);
  renderChart(report.items);
}

function renderTable(report) {
  const head = el("tr");
  head.append(el("th", {}, "unit 单位"));
  for (const [, label] of COLUMNS) head.append(el("th", {}, label));
  for (const [, label] of RATES) head.append(el("th", {}, label));
  const rows = [...report.items, report.total].map((row, i, all) => {
    const tr = el("tr", { class: i === all.length - 1 ? "total" : "", "data-unit": row.unit });
    tr.append(el("td", {}, row.name));
    for (const [key] of COLUMNS) tr.append(el("td", { class: key === "overdue_now" && row[key] > 0 ? "late" : "" }, String(row[key])));
    for (const [key] of RATES) tr.append(el("td", {}, pct(row[key])));
    return tr;
  });
  $("table").replaceChildren(head, ...rows);
}

function renderChart(items) {
  const svg = $("chart");
  const groupWidth = 150, barWidth = 26, height = 260, top = 16, bottom = 48, left = 44;
  const width = Math.max(600, left + items.length * groupWidth + 20);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.replaceChildren();
  const plot = height - top - bottom;
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plot * (1 - tick);
    svg.append(el("line", { svg: 1, x1: left, x2: width - 10, y1: y, y2: y, stroke: "#d9e2ec" }));
    svg.append(el("text", { svg: 1, x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#616e7c" }, tick * 100 + "%"));
  }
  items.forEach((row, g) => {
    const x0 = left + 16 + g * groupWidth;
    RATES.forEach(([key, label, css], r) => {
      const value = row[key] ?? 0;
      const h = plot * value;
      const bar = el("rect", { svg: 1, x: x0 + r * (barWidth + 4), y: top + plot - h, width: barWidth, height: Math.max(h, 0.5),
                               fill: color(css), class: "bar", "data-rate": key, "data-unit": row.unit });
      bar.append(el("title", { svg: 1 }, `${row.name} · ${label}: ${pct(row[key])}`));
      svg.append(bar);
    });
    svg.append(el("text", { svg: 1, x: x0 + 2 * (barWidth + 4) - 2, y: height - bottom + 18, "text-anchor": "middle", "font-size": 12 }, row.name));
  });
  $("legend").replaceChildren(...RATES.map(([, label, css]) => {
    const span = el("span");
    const swatch = el("i");
    swatch.style.background = color(css);  // through the CSSOM: the page's policy refuses style attributes
    span.append(swatch, label);
    return span;
  }));
}

$("urgency").addEventListener("change", chooseUrgency);
$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("linli-token", $("token").value.trim());
  load();
});
load().catch((error) => showLogin(String(error)));
