// HERO results viewer: query list on the left, one query's moments / answers on the right.
"use strict";
const state = { page: 1, perPage: 50, kind: null, selected: null };
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.setAttribute("class", v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path) {
  const response = await fetch(path);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(2));

function metricsTable(metrics) {
  const rows = Object.entries(metrics).filter(([, v]) => v && typeof v === "object" && !Array.isArray(v));
  const flat = rows.filter(([k]) => !["by_type", "temporal", "by_show", "by_question_type"].includes(k));
  if (!flat.length && metrics.accuracy === undefined) return el("p", { class: "hint" }, "no metrics (unlabelled split)");
  const table = el("table");
  if (metrics.accuracy !== undefined) table.append(el("tr", {}, el("th", {}, "accuracy"), el("td", {}, fmt(100 * metrics.accuracy) + " %")));
  for (const [task, values] of flat) {
    const keys = Object.keys(values);
    table.append(el("tr", {}, el("th", {}, task), ...keys.map((k) => el("th", {}, k))));
    table.append(el("tr", {}, el("td", {}, "all"), ...keys.map((k) => el("td", {}, fmt(values[k])))));
    for (const [type, byTask] of Object.entries(metrics.by_type || {})) {
      if (byTask[task]) table.append(el("tr", {}, el("td", {}, `type ${type}`), ...keys.map((k) => el("td", {}, fmt(byTask[task][k])))));
    }
  }
  return table;
}

async function loadSummary() {
  const summary = await api("/api/summary");
  state.kind = summary.kind;
  $("run").textContent = summary.kind ? `${summary.folder} · ${summary.split} · ${summary.num_queries} queries` : "no run loaded";
  $("metrics").replaceChildren(summary.kind ? metricsTable(summary.metrics || {}) : "");
  $("search").hidden = !summary.search;
  const options = summary.kind === "qa"
    ? [["all", "all"], ["correct", "correct"], ["wrong", "wrong"]]
    : [["all", "all"], ["hit0.7", "hit @ IoU 0.7"], ["miss0.7", "miss @ IoU 0.7"], ["hit0.5", "hit @ IoU 0.5"], ["miss0.5", "miss @ IoU 0.5"]];
  $("filter-status").replaceChildren(...options.map(([v, t]) => el("option", { value: v }, t)));
  if (summary.kind) await loadQueries();
}

async function loadQueries() {
  const params = new URLSearchParams({ text: $("filter-text").value, status: $("filter-status").value,
    sort: $("sort").value, page: state.page, per_page: state.perPage });
  const data = await api(`/api/queries?${params}`);
  $("count").textContent = `${data.total} queries`;
  $("page").textContent = `page ${data.page} of ${Math.max(1, Math.ceil(data.total / data.per_page))}`;
  $("queries").replaceChildren(...data.items.map((q) => {
    const badges = state.kind === "qa"
      ? [el("span", { class: `badge ${q.correct ? "hit" : "miss"}` }, q.correct === null ? "?" : q.correct ? "correct" : "wrong")]
      : [el("span", { class: `badge ${q.rank_07 ? "hit" : "miss"}` }, q.rank_07 ? `GT #${q.rank_07} @0.7` : "miss @0.7")];
    return el("li", { class: "query", "data-id": q.id, onclick: () => showQuery(q.id) },
      el("span", { class: "id" }, q.id), q.text, ...badges);
  }));
}

function timeline(duration, bars) {
  const width = 1000, end = Math.max(duration || 0, ...bars.map((b) => b.ed), 1);
  const svg = el("svg:svg", { class: "timeline", viewBox: `0 0 ${width} 56`, preserveAspectRatio: "none" });
  const x = (t) => (t / end) * width;
  for (const bar of bars) {
    const rect = el("svg:rect", { class: bar.cls, x: x(bar.st), y: bar.y, width: Math.max(x(bar.ed) - x(bar.st), 2),
      height: bar.h, "data-rank": bar.rank ?? null, onclick: bar.onclick || null });
    rect.append(el("svg:title", {}, bar.title));
    svg.append(rect);
    if (bar.label) svg.append(el("svg:text", { x: x(bar.st) + 2, y: bar.y + bar.h - 3 }, bar.label));
  }
  return svg;
}

function videoBlock(vid, video, bars) {
  const block = el("section", { class: "video", "data-video": vid }, el("h3", {}, vid));
  let player = null;
  if (video.url) {
    player = el("video", { src: video.url, controls: "", preload: "metadata" });
    block.append(player);
  }
  for (const bar of bars) if (player) bar.onclick = () => { player.currentTime = bar.st; player.play(); };
  block.append(timeline(video.duration, bars));
  block.append(el("div", { class: "subs" }, ...video.subtitles.map((s) =>
    el("div", {}, el("span", { class: "t" }, `${fmt(s.start)}–${fmt(s.end)}`), s.text))));
  return block;
}

function momentDetail(detail) {
  const out = [el("h2", {}, detail.text), el("p", {}, detail.gt
    ? `ground truth: ${detail.gt.video} ${fmt(detail.gt.ts[0])}–${fmt(detail.gt.ts[1])} s` + (detail.type ? ` (type ${detail.type})` : "")
    : "no ground truth (unlabelled query)")];
  const table = el("table", { class: "moments" }, el("tr", {}, ...["rank", "video", "start", "end", "score", "IoU with GT"].map((h) => el("th", {}, h))));
  for (const m of detail.moments) {
    table.append(el("tr", { class: m.iou !== null && m.iou >= 0.7 ? "correct" : "" }, el("td", {}, m.rank), el("td", {}, m.video),
      el("td", {}, fmt(m.st)), el("td", {}, fmt(m.ed)), el("td", {}, fmt(m.score)), el("td", {}, fmt(m.iou))));
  }
  out.push(table);
  const order = [detail.gt ? detail.gt.video : null, ...detail.moments.map((m) => m.video)].filter((v, i, a) => v && a.indexOf(v) === i);
  for (const vid of order) {
    const bars = [];
    if (detail.gt && detail.gt.video === vid) bars.push({ cls: "gt", st: detail.gt.ts[0], ed: detail.gt.ts[1], y: 4, h: 20, title: "ground truth", label: "GT" });
    for (const m of detail.moments.filter((m) => m.video === vid)) {
      bars.push({ cls: `moment${m.rank === 1 ? " top" : ""}`, st: m.st, ed: m.ed, y: 30, h: 20, rank: m.rank,
        title: `#${m.rank} score ${fmt(m.score)}`, label: `#${m.rank}` });
    }
    out.push(videoBlock(vid, detail.videos[vid] || { duration: null, subtitles: [] }, bars));
  }
  return out;
}

function qaDetail(detail) {
  const out = [el("h2", {}, detail.text)];
  out.push(el("ol", { class: "answers", start: 0 }, ...detail.answers.map((a, i) =>
    el("li", { class: [i === detail.predicted ? "predicted" : "", i === detail.correct ? "right" : "",
      i === detail.predicted && i !== detail.correct ? "wrong" : ""].join(" ") }, a))));
  const bars = [];
  if (detail.gt_span) bars.push({ cls: "gt", st: detail.gt_span[0], ed: detail.gt_span[1], y: 4, h: 20, title: "ground-truth span", label: "GT" });
  if (detail.pred_span) bars.push({ cls: "pred-span", st: detail.pred_span[0], ed: detail.pred_span[1], y: 30, h: 20, title: "predicted span", label: "pred" });
  if (detail.video) out.push(videoBlock(detail.video, detail.videos[detail.video] || { duration: null, subtitles: [] }, bars));
  return out;
}

async function showQuery(id) {
  state.selected = id;
  for (const li of document.querySelectorAll("#queries li")) li.classList.toggle("selected", li.dataset.id === id);
  try {
    const detail = await api(`/api/query/${encodeURIComponent(id)}?k=10`);
    $("detail").replaceChildren(...(detail.kind === "qa" ? qaDetail(detail) : momentDetail(detail)));
    $("detail").dataset.query = id;
  } catch (error) {
    $("detail").replaceChildren(el("p", { class: "error" }, error.message));
  }
}

async function search(event) {
  event.preventDefault();
  try {
    const detail = await api(`/api/search?${new URLSearchParams({ q: $("search-text").value, k: 10 })}`);
    $("detail").replaceChildren(...momentDetail(detail));
    $("detail").dataset.query = "search";
  } catch (error) {
    $("detail").replaceChildren(el("p", { class: "error" }, error.message));
  }
}

let typing = null;
$("filter-text").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.page = 1; loadQueries(); }, 200); });
$("filter-status").addEventListener("change", () => { state.page = 1; loadQueries(); });
$("sort").addEventListener("change", () => { state.page = 1; loadQueries(); });
$("prev").addEventListener("click", () => { if (state.page > 1) { state.page -= 1; loadQueries(); } });
$("next").addEventListener("click", () => { state.page += 1; loadQueries(); });
$("search").addEventListener("submit", search);
loadSummary().catch((error) => $("detail").replaceChildren(el("p", { class: "error" }, error.message)));
