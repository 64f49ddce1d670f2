// The console page: the map and tree of regions, KPI tiles, the live feed, the lists and the
// tracking-number timeline. Everything is aggregated by the server; the page asks for one
// region's children at a time.
'use strict';
const S = { lang: localStorage.getItem('cg-lang') || 'zh', token: sessionStorage.getItem('cg-token') || '',
  region: '', view: null, list: 'triage', hits: [], dirty: false, source: null };
const $ = (q) => document.querySelector(q);
const t = (k) => (LABELS[S.lang] || LABELS.zh)[k] || LABELS.zh[k] || k;
const factName = (f) => (S.lang === 'zh' && FACTS.zh[f]) || f;
// A rate over nothing is shown as n/a, not as 0%.
const pct = (x, of) => (x === undefined || x === null || of === 0 ? t('noData') : (x * 100).toFixed(1) + '%');
const when = (s) => (s ? new Date(s).toLocaleString(S.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false }) : '');
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const COLOURS = ['#3c6e57', '#3d7fe0', '#e6c229', '#f08a24', '#e0342b'];
const RANK = { WARNING_COLOUR_BLUE: 1, WARNING_COLOUR_YELLOW: 2, WARNING_COLOUR_ORANGE: 3, WARNING_COLOUR_RED: 4 };

async function api(path, options = {}) {
  const headers = Object.assign({ 'content-type': 'application/json' }, options.headers || {});
  if (S.token) headers.authorization = 'Bearer ' + S.token;
  const r = await fetch(path, Object.assign({}, options, { headers }));
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) { showLogin(body.error || ''); throw new Error(body.error || 'unauthenticated'); }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function translate() {
  document.documentElement.lang = S.lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
  document.querySelectorAll('[data-i18n-placeholder]').forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  $('#lang').textContent = S.lang === 'zh' ? 'English' : '中文';
}

function showLogin(message) {
  $('#login').hidden = false;
  $('#login-error').textContent = message;
}

// ---- map and tree ----
async function openRegion(code) {
  const view = await api('/api/regions/' + encodeURIComponent(code));
  S.region = view.code; S.view = view;
  $('#map').dataset.region = view.code;
  $('#map').dataset.level = view.level;
  drawCrumbs(view); drawTree(view); drawMap(view);
  refreshLists(); refreshKpis(); refreshDepartments();
}

function drawCrumbs(v) {
  const path = v.path.length ? v.path : [{ code: v.code, name: v.name }];
  $('#crumbs').innerHTML = path.map((p) => `<a data-code="${esc(p.code)}">${esc(p.name)}</a>`).join('<span class="sep">›</span>');
  const f = v.figures;
  $('#totals').innerHTML = `${t('open')} <b id="total-open">${f.open}</b> · ${t('triage')} <b>${f.triage}</b> · ` +
    `${t('overdue')} <b>${f.overdue}</b> · ${t('escalated')} <b>${f.escalated}</b> · ${t('closedToday')} <b>${f.closed_today}</b>`;
}

function drawTree(v) {
  $('#tree').innerHTML = v.children.map((c) => `<li data-code="${esc(c.code)}" data-level="${c.level}">` +
    `<span><i class="dot c${c.figures.worst}"></i>${esc(c.name)}</span>` +
    `<span class="n">${c.figures.open} / ${c.figures.overdue}</span></li>`).join('');
}

function frame(v) {
  const rings = v.children.map((c) => c.ring).filter((r) => r.length);
  if (!rings.length && v.ring.length) rings.push(v.ring);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  rings.forEach((r) => r.forEach(([x, y]) => { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }));
  const canvas = $('#map');
  const w = canvas.width, h = canvas.height, pad = 16;
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const scale = Math.min((w - 2 * pad) / Math.max((x1 - x0) * k, 1e-9), (h - 2 * pad) / Math.max(y1 - y0, 1e-9));
  const ox = (w - (x1 - x0) * k * scale) / 2, oy = (h - (y1 - y0) * scale) / 2;
  return ([x, y]) => [ox + (x - x0) * k * scale, h - oy - (y - y0) * scale];
}

function drawMap(v) {
  const canvas = $('#map');
  const rect = canvas.getBoundingClientRect();
  if (rect.width > 0) { canvas.width = Math.round(rect.width); canvas.height = Math.round(rect.height); }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const project = frame(v);
  S.hits = [];
  v.children.forEach((c) => {
    if (!c.ring.length) return;
    const pts = c.ring.map(project);
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.globalAlpha = c.figures.open ? 0.85 : 0.45;
    ctx.fillStyle = COLOURS[c.figures.worst] || COLOURS[0];
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = '#0c1626'; ctx.lineWidth = 1.2; ctx.stroke();
    S.hits.push({ child: c, pts });
  });
  if (v.children.length <= 80) {
    ctx.font = '12px sans-serif'; ctx.textAlign = 'center'; ctx.fillStyle = '#ffffff';
    v.children.forEach((c) => {
      if (!c.ring.length) return;
      const [x, y] = project(c.centroid);
      ctx.fillText(c.name, x, y);
      if (c.figures.open) ctx.fillText(String(c.figures.open), x, y + 14);
    });
  }
}

function inside([px, py], pts) {
  let hit = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if ((yi > py) !== (yj > py) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

function childAt(ev) {
  const canvas = $('#map');
  const r = canvas.getBoundingClientRect();
  const p = [(ev.clientX - r.left) * (canvas.width / r.width), (ev.clientY - r.top) * (canvas.height / r.height)];
  const h = S.hits.find((x) => inside(p, x.pts));
  return h && h.child;
}

// ---- lists ----
function filters() {
  const q = new URLSearchParams({ list: S.list, region: S.region, limit: '200' });
  const dept = $('#f-department').value.trim(), item = $('#f-item').value.trim(), colour = $('#f-colour').value;
  const since = $('#f-since').value;
  if (dept) q.set('department', dept);
  if (item) q.set('item', item);
  if (colour !== '0') q.set('colour', colour);
  if (since) q.set('since', new Date(since).toISOString());
  return q;
}

async function refreshLists() {
  const base = filters();
  const counts = await Promise.all(['triage', 'overdue', 'escalated'].map((l) => {
    const q = new URLSearchParams(base); q.set('list', l); q.set('limit', l === S.list ? '200' : '1');
    return api('/api/tasks?' + q).then((r) => [l, r]);
  }));
  counts.forEach(([l, r]) => { $('#n-' + l).textContent = r.total; if (l === S.list) drawList(r.tasks); });
}

function drawList(tasks) {
  const picked = new Set([...document.querySelectorAll('#list input.pick:checked')].map((e) => e.value));
  $('#list tbody').innerHTML = tasks.map((x) => `<tr data-task="${esc(x.id)}">` +
    `<td><input type="checkbox" class="pick" value="${esc(x.id)}" ${picked.has(x.id) ? 'checked' : ''}></td>` +
    `<td class="num">${esc(x.tracking_number)}</td><td>${esc(x.item_code)}</td><td>${esc(x.place)} ${esc(x.grid_code.slice(-3))}</td>` +
    `<td>${esc(x.department_id)}</td><td>${esc(x.status.replace('TASK_STATUS_', ''))}</td>` +
    `<td><i class="dot c${RANK[x.colour] || 0}"></i>${x.escalated ? '督' : ''}</td><td>${when(x.created_at)}</td></tr>`).join('');
  $('#assign-bar').style.visibility = S.list === 'triage' ? 'visible' : 'hidden';
}

async function refreshDepartments() {
  const r = await api('/api/departments?region=' + encodeURIComponent(S.region));
  $('#departments').innerHTML = r.departments.map((d) => `<option value="${esc(d)}">`).join('');
}

async function assignPicked() {
  const ids = [...document.querySelectorAll('#list input.pick:checked')].map((e) => e.value);
  const out = $('#triage-result');
  if (!ids.length) { out.textContent = t('chooseTasks'); out.className = 'error'; return; }
  try {
    const r = await api('/api/triage', { method: 'POST', body: JSON.stringify({ task_ids: ids, department_id: $('#triage-department').value.trim() }) });
    const ok = r.results.filter((x) => x.ok);
    ok.forEach((x) => document.querySelector(`#list tr[data-task="${CSS.escape(x.task_id)}"]`)?.remove());
    const bad = r.results.filter((x) => !x.ok);
    out.className = bad.length ? 'error' : 'ok';
    out.textContent = `${t('assigned')} ${ok.length}` + (bad.length ? ` · ${t('failed')} ${bad.length}: ${bad[0].error}` : '');
  } catch (e) { out.className = 'error'; out.textContent = e.message; }
}

// ---- KPI tiles and the department chart ----
async function refreshKpis() {
  const q = new URLSearchParams({ region: S.region, period: $('#period').value });
  $('#custom-period').hidden = q.get('period') !== 'custom';
  if (q.get('period') === 'custom') {
    if (!$('#period-from').value || !$('#period-to').value) return;
    q.set('from', $('#period-from').value); q.set('to', $('#period-to').value);
  }
  const k = await api('/api/kpis?' + q);
  const d = k.dispatch || {}, m = k.mediation || {}, c = k.coverage || {}, p = k.presence || {};
  const tiles = [
    ['closure_rate', t('closureRate'), pct(d.closure_rate, d.due_to_close), `${d.closed ?? '-'} / ${d.due_to_close ?? '-'}`],
    ['on_time_closure_rate', t('onTimeRate'), pct(d.on_time_closure_rate, d.closed), ''],
    ['rework_rate', t('reworkRate'), pct(d.rework_rate, d.handled), `${d.reworked ?? '-'} / ${d.handled ?? '-'}`],
    ['satisfaction_rate', t('satisfaction'), pct(d.satisfaction_rate, d.rated), `${d.satisfied ?? '-'} / ${d.rated ?? '-'}`],
    ['mediation_success_rate', t('mediationRate'), pct(m.success_rate, (m.settled ?? 0) + (m.failed ?? 0)), `${m.settled ?? '-'} / ${m.opened ?? '-'}`],
    ['patrol_coverage', t('coverage'), pct(c.coverage, c.checkpoints), `${c.checked_in ?? '-'} / ${c.checkpoints ?? '-'}`],
    ['grid_workers_online', t('online'), pct(p.online_rate, p.members), `${p.online ?? '-'} / ${p.members ?? '-'}`],
  ];
  $('#kpis').innerHTML = tiles.map(([key, label, v, sub]) =>
    `<div class="tile" data-kpi="${key}"><div class="v">${v}</div><div class="k">${label}</div><div class="s">${esc(sub)}</div></div>`).join('');
  // The busiest departments: bars by open tasks, with each one's closure rate beside.
  const rows = (k.departments || []).filter((x) => !x.error);
  const most = Math.max(1, ...rows.map((x) => x.open));
  const h = 18 * rows.length + 24;
  const bar = (x) => Math.round((300 * x.open) / most);
  $('#dept-chart').innerHTML = `<svg width="100%" height="${h}" viewBox="0 0 600 ${h}"><text x="0" y="12">${t('deptChart')}</text>` +
    rows.map((x, i) => `<text x="0" y="${34 + i * 18}">${esc(x.department_id)}</text>` +
      `<rect x="180" y="${24 + i * 18}" width="${bar(x)}" height="12" fill="#3d7fe0"></rect>` +
      `<text x="${186 + bar(x)}" y="${34 + i * 18}">${x.open} · ${t('closureRate')} ${pct(x.closure_rate, x.due_to_close)}</text>`).join('') + '</svg>';
}

// ---- tracking number ----
async function track(number) {
  const box = $('#track');
  try {
    const r = await api('/api/track/' + encodeURIComponent(number));
    const e = r.event;
    box.innerHTML = `<div id="track-event" data-number="${esc(e.tracking_number)}"><b>${esc(e.tracking_number)}</b> ${esc(e.item_code)} · ${esc(e.status.replace('EVENT_STATUS_', ''))}` +
      `<br>${esc(e.description)} <small>${esc(e.address)}</small></div><ul id="timeline">` +
      r.timeline.map((s) => `<li data-service="${esc(s.service)}" data-fact="${esc(s.fact)}"><span class="t">${when(s.at)}</span>` +
        `<b>${esc(s.service)}</b> ${esc(factName(s.fact))} <small>${esc(s.detail)}</small></li>`).join('') + '</ul>';
  } catch (err) { box.innerHTML = `<p class="error">${esc(number)}: ${esc(err.message)}</p>`; }
}

// ---- live feed ----
function connectLive() {
  if (S.source) S.source.close();
  const src = new EventSource('/api/live' + (S.token ? '?token=' + encodeURIComponent(S.token) : ''));
  S.source = src;
  src.onopen = () => { $('#live-state').textContent = t('connected'); };
  src.onerror = () => { $('#live-state').textContent = t('reconnecting'); };
  src.addEventListener('lagged', () => { S.dirty = true; });
  src.addEventListener('fact', (m) => {
    const x = JSON.parse(m.data);
    const li = document.createElement('li');
    li.className = 'feed-item new'; li.dataset.fact = x.fact; li.dataset.service = x.service;
    if (x.tracking_number) li.dataset.number = x.tracking_number;
    li.innerHTML = `<span class="t">${when(x.at).slice(-8)}</span><span class="svc">${esc(x.service)}</span> ` +
      `${RANK[x.colour] ? `<i class="dot c${RANK[x.colour]}"></i>` : ''}${esc(factName(x.fact))} ` +
      `<small>${esc(x.tracking_number)} ${esc(x.detail)}</small>`;
    const feed = $('#feed');
    feed.prepend(li);
    while (feed.children.length > 200) feed.lastChild.remove();
    S.dirty = true;
  });
}

// ---- wiring ----
async function start() {
  translate();
  let session;
  try { session = await api('/api/session'); } catch (e) { if ($('#login').hidden) showLogin(e.message); return; }
  $('#login').hidden = true;
  $('#who').textContent = `${session.subject} · ${session.role.replace('ROLE_', '').toLowerCase()}${session.region_scope ? ' · ' + session.region_scope : ''}`;
  await openRegion(session.top || '');
  connectLive();
}

$('#login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  S.token = $('#token').value.trim();
  sessionStorage.setItem('cg-token', S.token);
  start();
});
$('#logout').addEventListener('click', () => { sessionStorage.removeItem('cg-token'); S.token = ''; location.reload(); });
$('#lang').addEventListener('click', () => {
  S.lang = S.lang === 'zh' ? 'en' : 'zh'; localStorage.setItem('cg-lang', S.lang); translate();
  if (S.view) { drawCrumbs(S.view); refreshKpis(); }
});
$('#crumbs').addEventListener('click', (e) => { const a = e.target.closest('a[data-code]'); if (a) openRegion(a.dataset.code); });
$('#tree').addEventListener('click', (e) => {
  const li = e.target.closest('li[data-code]');
  if (li && li.dataset.level !== 'grid') openRegion(li.dataset.code);
});
$('#map').addEventListener('click', (e) => { const c = childAt(e); if (c && c.level !== 'grid') openRegion(c.code); });
$('#map').addEventListener('mousemove', (e) => {
  const c = childAt(e), tip = $('#tip');
  if (!c) { tip.hidden = true; return; }
  const f = c.figures;
  tip.hidden = false; tip.style.left = e.offsetX + 12 + 'px'; tip.style.top = e.offsetY + 12 + 'px';
  tip.textContent = `${c.name} (${t('levels')[c.level] || c.level})\n${t('open')} ${f.open} · ${t('overdue')} ${f.overdue} · ${t('triage')} ${f.triage}`;
});
$('#tabs').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-list]');
  if (!b) return;
  S.list = b.dataset.list;
  document.querySelectorAll('#tabs button').forEach((x) => x.classList.toggle('on', x === b));
  refreshLists();
});
['#f-department', '#f-item', '#f-colour', '#f-since'].forEach((q) => $(q).addEventListener('change', refreshLists));
$('#pick-all').addEventListener('change', (e) => document.querySelectorAll('#list input.pick').forEach((x) => { x.checked = e.target.checked; }));
$('#triage-assign').addEventListener('click', assignPicked);
['#period', '#period-from', '#period-to'].forEach((q) => $(q).addEventListener('change', () => refreshKpis().catch((e) => { $('#kpis').textContent = e.message; })));
$('#track-form').addEventListener('submit', (e) => { e.preventDefault(); const n = $('#track-number').value.trim(); if (n) track(n); });
$('#list').addEventListener('click', (e) => { const td = e.target.closest('td.num'); if (td) { $('#track-number').value = td.textContent; track(td.textContent); } });
$('#feed').addEventListener('click', (e) => { const li = e.target.closest('li[data-number]'); if (li) { $('#track-number').value = li.dataset.number; track(li.dataset.number); } });
window.addEventListener('resize', () => S.view && drawMap(S.view));

// Figures follow the feed: at most one refresh a second while facts arrive, and a slow poll
// besides (warnings change colour without anyone acting).
setInterval(() => {
  if (!S.view || !S.dirty) return;
  S.dirty = false;
  api('/api/regions/' + encodeURIComponent(S.region)).then((v) => {
    // Redraw only what changed: a tree rebuilt under the pointer loses a click or a hover.
    const text = JSON.stringify(v);
    if (text === S.drawn) return;
    S.drawn = text; S.view = v; drawCrumbs(v); drawTree(v); drawMap(v);
  }).catch(() => {});
  if (!document.querySelector('#list input.pick:checked')) refreshLists().catch(() => {});
}, 1000);
setInterval(() => { S.dirty = true; }, 10000);
setInterval(() => { if (S.view) refreshKpis().catch(() => {}); }, 30000);
start();
