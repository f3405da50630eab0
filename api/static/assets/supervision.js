// The supervisors' page (supervision.html): draws /v1/supervision/stats, the ranking (/v1/supervision/ranking)
// and the pending queue (/v1/supervision/pending) for the token holder. Data is written with textContent only.
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

// The ranking's columns after rank, unit and score: [field, label, how to show it].
const RANKING = [
  ["filed", "受理 filed", String],
  ["response_rate", "响应率 response", pct],
  ["resolution_rate", "解决率 resolution", pct],
  ["satisfaction_rate", "满意率 satisfaction", pct],
  ["on_time_rate", "按时率 on time", pct],
  ["claim_on_time_rate", "签收及时率 claim on time", pct],
  ["yellow_cards", "黄牌 yellow cards", String],
  ["red_cards", "红牌 red cards", String],
  ["claims_overdue", "签收超期 claims overdue", String],
];
const WEIGHTS = { response: "响应 response", resolution: "解决 resolution", satisfaction: "满意 satisfaction",
                  on_time: "按时 on time", claim_on_time: "签收及时 claim on time" };
const PENALTIES = { yellow_card: "黄牌 yellow card", red_card: "红牌 red card", claim_overdue: "签收超期 claim overdue" };
const KINDS = { claim: "签收 claim", return: "退单裁定 return ruling", extension: "延期审批 extension" };
const RETURN_REASONS = { not_our_remit: "非本单位职责 not our remit", wrong_jurisdiction: "不属本辖区 wrong jurisdiction",
                         ownership_unclear: "权属不清 ownership unclear", duplicate: "重复 duplicate" };
const PENDING_PAGE = 50;
// Unit codes the page has met (the jurisdiction's units, the stats', the ranking's) with their names.
const unitNames = new Map();
const unitName = (code) => unitNames.get(code) || code;
const number = (v, digits = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits).replace(/\.0+$/, ""));

// Times as China Standard Time (the towns' default zone), "2026-05-04 09:30".
const CLOCK = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
                                                 hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
function when(iso) {
  if (!iso) return "—";
  const part = Object.fromEntries(CLOCK.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}`;
}

// The ranking's periods are UTC months (the API's bounds), so this month is the UTC one.
const thisMonth = () => new Date().toISOString().slice(0, 7);

// A refusal worth showing as it is (no "Error:" prefix): the API's detail, or the token being unknown.
class Refused extends Error {}
const fail = (error) => showLogin(error instanceof Refused ? error.message : String(error));

function describe(detail) {
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return detail ? String(detail) : "";
}

// GET an API path with the tab's token; a 401 forgets the token. Either refusal ends on the sign-in form.
async function api(path) {
  const token = takeToken();
  if (!token) throw new Refused("");
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (response.status === 401) { sessionStorage.removeItem("linli-token"); throw new Refused("That token is unknown or revoked."); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refused(describe(body.detail) || response.statusText);
  return body;
}

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

// The filters live in the page's address (?urgency=, ?period=, ?kind=, like ?unit=, ?from=, ?to=), so a
// filtered view can be bookmarked and shared; each request is asked with the parameters it takes.
function setParam(name, value) {
  const params = new URLSearchParams(location.search);
  if (value) params.set(name, value);
  else params.delete(name);
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
}

function query(names, extra = {}) {
  const from = new URLSearchParams(location.search);
  const params = new URLSearchParams();
  for (const name of names) if (from.get(name)) params.set(name, from.get(name));
  for (const [name, value] of Object.entries(extra)) if (value) params.set(name, value);
  const text = params.toString();
  return text ? "?" + text : "";
}

const statsPath = () => "/v1/supervision/stats" + query(["unit", "from", "to", "urgency"]);
const period = () => new URLSearchParams(location.search).get("period") || thisMonth();
const rankingPath = () => "/v1/supervision/ranking" + query(["unit"], { period: period() });
const pendingPath = (cursor) => "/v1/supervision/pending" + query(["unit", "kind"], { limit: String(PENDING_PAGE), cursor });

function chooseUrgency() {
  setParam("urgency", $("urgency").value);
  api(statsPath()).then(render).catch(fail);
}

function choosePeriod() {
  setParam("period", $("period").value);
  api(rankingPath()).then(renderRanking).catch(fail);
}

function chooseKind() {
  setParam("kind", $("pending-kind").value);
  api(pendingPath()).then((page) => renderPending(page, false)).catch(fail);
}

async function load() {
  if (!takeToken()) return showLogin();
  const params = new URLSearchParams(location.search);
  $("urgency").value = params.get("urgency") || "";
  $("pending-kind").value = params.get("kind") || "";
  const chosen = period();
  $("period").value = /^[0-9]{4}-[0-9]{2}$/.test(chosen) ? chosen : "";  // a quarter (YYYY-Qn) has no month to show
  // The units (first page: names for the queue's handling units; a unit not among them shows its code).
  const units = api("/v1/units?limit=200").catch(() => null);
  const [stats, ranking, pending] = await Promise.all([api(statsPath()), api(rankingPath()), api(pendingPath())]);
  for (const unit of (await units)?.items || []) unitNames.set(unit.code, unit.name);
  render(stats);
  renderRanking(ranking);
  renderPending(pending, false);
}

function render(report) {
  $("login").hidden = true;
  $("report").hidden = false;
  for (const row of [...report.items, report.total]) unitNames.set(row.unit, row.name);
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

// 考核排名: one row per unit one level below the scope, best first, with the score drawn as a bar.
function renderRanking(report) {
  for (const row of report.items) unitNames.set(row.unit, row.name);
  const scope = report.unit ? unitName(report.unit) : "全部 all";
  const caption = $("ranking-caption");
  caption.textContent = `${scope} · ${report.period} · ${report.items.length} units`;
  caption.title = `${report.period_from} – ${report.period_to} (UTC, end exclusive)`;
  const terms = (names, values) => Object.entries(values).map(([k, v]) => `${names[k] || k} ${number(v)}`).join(" · ");
  $("ranking-formula").textContent = "得分 score = Σ 权重 weight × 比率 rate × 100 / Σ 权重 weights − 扣分 penalty points" +
    ` · 权重 weights: ${terms(WEIGHTS, report.weights)} · 扣分 penalties: ${terms(PENALTIES, report.penalty_points)}`;
  const head = el("tr");
  head.append(el("th", {}, "排名 rank"), el("th", { class: "name" }, "单位 unit"), el("th", {}, "得分 score"));
  for (const [, label] of RANKING) head.append(el("th", {}, label));
  head.append(el("th", {}, "扣分 penalty points"));
  const rows = report.items.map((row) => {
    const tr = el("tr", { class: "ranked" + (row.rank === 1 ? " first" : ""), "data-unit": row.unit, "data-rank": String(row.rank) });
    const score = el("td", { class: "score" });
    const meter = el("span", { class: "meter" });
    const fill = el("i");
    fill.style.width = Math.max(0, Math.min(100, row.score ?? 0)) + "%";  // through the CSSOM, as the legend's swatches
    meter.append(fill);
    score.append(meter, el("span", { class: "value" }, row.score === null ? "—" : row.score.toFixed(1)));
    tr.append(el("td", { class: "rank" }, String(row.rank)), el("td", { class: "name" }, row.name), score);
    for (const [key, , show] of RANKING) tr.append(el("td", {}, show(row[key])));
    tr.append(el("td", { class: "penalty" + (row.penalty_points > 0 ? " late" : "") }, number(row.penalty_points)));
    return tr;
  });
  if (!rows.length) rows.push(emptyRow(RANKING.length + 4, "本期无单位 no units in this scope"));
  $("ranking").replaceChildren(head, ...rows);
}

// 待办: what waits for a claim, a ruling on a return or an extension decision; "more" appends the next page.
let pendingCursor = null;
function renderPending(page, append) {
  const table = $("pending");
  if (!append) {
    const head = el("tr");
    for (const label of ["类型 kind", "案件 case", "承办单位 handling unit", "等待自 since", "期限 due", "详情 detail"]) head.append(el("th", {}, label));
    table.replaceChildren(head);
  }
  table.querySelector("tr.empty")?.remove();
  for (const item of page.items) table.append(pendingRow(item));
  if (!table.querySelector("tr.pending")) table.append(emptyRow(6, "暂无待办 nothing is waiting"));
  const shown = table.querySelectorAll("tr.pending").length;
  $("pending-caption").textContent = `${shown} shown${page.next_cursor ? " · more waiting 还有更多" : ""}`;
  pendingCursor = page.next_cursor;
  $("pending-more").hidden = !pendingCursor;
}

function pendingRow(item) {
  const c = item.case;
  const overdue = item.kind === "claim" && item.detail.overdue;
  const tr = el("tr", { class: "pending" + (overdue ? " overdue" : ""), "data-kind": item.kind, "data-case": c.id });
  const kind = el("td");
  kind.append(el("span", { class: "kind kind-" + item.kind }, KINDS[item.kind] || item.kind));
  const title = el("td", { class: "case" });
  title.append(el("span", { class: "number" }, c.number), el("span", { class: "title" }, c.title));
  const due = el("td", { class: "due" + (overdue ? " late" : "") }, when(item.due));
  if (overdue) due.append(el("span", { class: "flag" }, "已超期 overdue"));
  tr.append(kind, title, el("td", {}, unitName(c.handling_unit)), el("td", {}, when(item.since)), due,
            el("td", { class: "detail" }, detailText(item)));
  return tr;
}

function detailText(item) {
  const d = item.detail;
  if (item.kind === "claim") {
    return `签收期限 claim by ${when(d.claim_deadline)}` + (d.overdue ? " · 已超期 overdue" : "");
  }
  if (item.kind === "return") {
    const why = RETURN_REASONS[d.reason] || d.reason;
    return `${unitName(d.from_unit)} 退回 returned ${when(d.at)} · ${why}` + (d.explanation ? ` · ${d.explanation}` : "");
  }
  if (item.kind === "extension") {
    return `申请延期 ${d.days} 天 days · ${d.reason} · 申请人 by ${d.by} · ${when(d.at)}`;
  }
  return JSON.stringify(d);
}

function emptyRow(span, text) {
  const tr = el("tr", { class: "empty" });
  tr.append(el("td", { colspan: String(span) }, text));
  return tr;
}

function loadMorePending() {
  if (!pendingCursor) return;
  api(pendingPath(pendingCursor)).then((page) => renderPending(page, true)).catch(fail);
}

$("urgency").addEventListener("change", chooseUrgency);
$("period").addEventListener("change", choosePeriod);
$("pending-kind").addEventListener("change", chooseKind);
$("pending-more").addEventListener("click", loadMorePending);
$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("linli-token", $("token").value.trim());
  load().catch(fail);
});
load().catch(fail);
