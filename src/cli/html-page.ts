// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The script and styles of the HTML report (html-report.ts), inlined into the page: plain
 * browser JavaScript with no library, reading the data the page carries in #klp-data.
 *
 * The timeline is a canvas: a row per vCPU, per livepatch track and per task, the trace's
 * slices drawn at emulated time. A vCPU's row shows what it ran, and the interrupts it took as
 * a strip along its top. A task's row shows its patch state as the bar, when it ran as a strip
 * under it (green where it ran in user mode), and each klp_try_switch_task verdict as a tick
 * (red when it was blocked).
 * The wheel zooms around the pointer, a drag pans; a log timestamp is a link that centres the
 * timeline on its moment and draws a cursor there. `window.klpReport` exposes the view for
 * tests (its range and cursor).
 */

export const REPORT_STYLE = `
:root { font-family: system-ui, sans-serif; font-size: 14px; color: #1d2330; background: #fafbfc; }
header { display: flex; gap: 1em; align-items: baseline; padding: .5em 1em; background: #23304a; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
main { padding: 0 1em 2em; }
h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
h2 small { font-weight: normal; color: #667; }
.toolbar { display: flex; gap: .4em; align-items: center; margin-bottom: .3em; }
.toolbar span { color: #445; margin-left: 1em; font-variant-numeric: tabular-nums; }
#timeline { position: relative; border: 1px solid #ccd; background: #fff; overflow-y: auto; max-height: 70vh; }
#canvas { display: block; cursor: grab; }
#tip { position: absolute; pointer-events: none; background: #1d2330; color: #fff; padding: .3em .5em; border-radius: 4px; font-size: 12px; white-space: pre; z-index: 2; }
.legend { display: flex; gap: 1em; margin-top: .3em; font-size: 12px; }
.legend span::before { content: ""; display: inline-block; width: 1em; height: .8em; margin-right: .3em; vertical-align: middle; }
.legend .unpatched::before { background: #8aa2c8; } .legend .pending::before { background: #f0a030; }
.legend .patched::before { background: #4caf6a; } .legend .blocked::before { background: #d33; }
.legend .running::before { background: #445; } .legend .user::before { background: #3aa57a; }
.legend .irq::before { background: #b03a2e; }
pre, .mono { font-family: ui-monospace, monospace; font-size: 12px; }
pre { background: #fff; border: 1px solid #dde; padding: .5em; overflow-x: auto; }
.task { border: 1px solid #e0b0b0; background: #fff8f8; padding: .5em .8em; margin: .5em 0; border-radius: 4px; }
.task h3 { margin: 0 0 .3em; font-size: 1em; }
.task .why { color: #b22; }
.cols { display: flex; gap: 1em; flex-wrap: wrap; }
.cols > div { flex: 1 1 28em; min-width: 0; }
.mark { background: #ffe08a; font-weight: bold; }
table { border-collapse: collapse; }
td, th { padding: .15em .6em; text-align: left; border-bottom: 1px solid #eee; font-size: 13px; }
#log-body { max-height: 40vh; overflow-y: auto; background: #fff; border: 1px solid #dde; padding: .4em; }
#log-body div { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; }
#log-body a { color: #2a5db0; text-decoration: none; }
#log-body a:hover { text-decoration: underline; }
.empty { color: #778; font-style: italic; }
`;

export const REPORT_SCRIPT = String.raw`
'use strict';
(function () {
  const data = JSON.parse(document.getElementById('klp-data').textContent);
  const $ = (id) => document.getElementById(id);
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d');
  const LABEL = 230;
  const ROW = 18;
  const view = { session: 0, t0: 0, t1: 1, cursor: null, rows: [] };
  window.klpReport = view;

  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const fmtUs = (us) => (us >= 1e6 ? (us / 1e6).toFixed(6) + ' s' : us >= 1e3 ? (us / 1e3).toFixed(3) + ' ms' : us.toFixed(3) + ' µs');
  const stamp = (ns) => {
    const s = Math.floor(ns / 1e9);
    const us = Math.floor((ns % 1e9) / 1e3);
    return '[' + String(s).padStart(5) + '.' + String(us).padStart(6, '0') + ']';
  };
  function colorOf(name) {
    if (name.startsWith('unpatched')) return name.includes('pending') ? '#f0a030' : '#8aa2c8';
    if (name.startsWith('patched')) return name.includes('pending') ? '#f0a030' : '#4caf6a';
    if (name === 'idle') return '#dfe4ec';
    if (name === 'offline') return '#999';
    if (name === 'sleeping') return '#e8ecf3';
    if (name === 'runnable') return '#c9d3e6';
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return 'hsl(' + (h % 360) + ',55%,62%)';
  }

  // --- rows from the trace's processes and threads ---------------------------------------
  function buildRows(s) {
    const procs = new Map();
    const proc = (pid) => {
      if (!procs.has(pid)) procs.set(pid, { pid, name: 'pid ' + pid, sort: pid, threads: new Map() });
      return procs.get(pid);
    };
    const thread = (pid, tid) => {
      const p = proc(pid);
      if (!p.threads.has(tid)) p.threads.set(tid, { tid, name: 'tid ' + tid, sort: tid, slices: [] });
      return p.threads.get(tid);
    };
    const counters = [];
    for (const e of s.events) {
      if (e.ph === 'M') {
        if (e.name === 'process_name') proc(e.pid).name = e.args.name;
        else if (e.name === 'process_sort_index') proc(e.pid).sort = e.args.sort_index;
        else if (e.name === 'thread_name') thread(e.pid, e.tid).name = e.args.name;
        else if (e.name === 'thread_sort_index') thread(e.pid, e.tid).sort = e.args.sort_index;
      } else if (e.ph === 'X') thread(e.pid, e.tid).slices.push(e);
      else if (e.ph === 'C') counters.push(e);
    }
    const prefix = s.trace.name ? s.trace.name + ': ' : '';
    const keep = new Set(s.trace.tasks.map((t) => t.comm));
    const rows = [];
    for (const p of [...procs.values()].sort((a, b) => a.sort - b.sort)) {
      const pname = p.name.startsWith(prefix) ? p.name.slice(prefix.length) : p.name;
      const threads = [...p.threads.values()].sort((a, b) => a.sort - b.sort);
      if (pname === 'vCPUs' || pname === 'livepatch') {
        for (const t of threads)
          if (t.slices.length)
            rows.push({ label: t.name, group: pname, slices: t.slices.filter((x) => x.cat !== 'irq'), irqs: t.slices.filter((x) => x.cat === 'irq') });
        continue;
      }
      // a task: one row, its patch state as the bar, sched as a strip, the verdicts as ticks
      const by = Object.fromEntries(threads.map((t) => [t.name, t.slices]));
      const patch = by['patch state'] || [];
      const comm = pname.replace(/ \(.*$/, '');
      if (!patch.length && !keep.has(comm)) continue;
      const user = (by['user/kernel'] || []).filter((x) => x.name === 'user');
      rows.push({ label: pname, group: 'tasks', task: true, slices: patch, sched: by.sched || [], user, verdicts: by.klp_try_switch_task || [] });
    }
    if (counters.length) rows.splice(rows.findIndex((r) => r.group === 'tasks') >>> 0, 0, { label: 'tasks pending', group: 'livepatch', counter: counters });
    return rows;
  }

  // --- drawing -------------------------------------------------------------------------------
  function resize() {
    const w = $('timeline').clientWidth;
    const h = (view.rows.length + 1) * ROW + 4;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = w * dpr;
    canvas.height = h * dpr;
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }
  const xOf = (us) => LABEL + ((us - view.t0) / (view.t1 - view.t0)) * (canvas.clientWidth - LABEL);
  const usOf = (x) => view.t0 + ((x - LABEL) / (canvas.clientWidth - LABEL)) * (view.t1 - view.t0);
  function bar(s, y, h, color) {
    const x0 = Math.max(LABEL, xOf(s.ts));
    const x1 = Math.min(canvas.clientWidth, xOf(s.ts + s.dur));
    if (x1 < LABEL || x0 > canvas.clientWidth) return;
    ctx.fillStyle = color || colorOf(s.name);
    ctx.fillRect(x0, y, Math.max(1, x1 - x0), h);
    if (x1 - x0 > 40 && h >= 12) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(x0, y, x1 - x0, h);
      ctx.clip();
      ctx.fillStyle = '#111';
      ctx.fillText(s.name, x0 + 3, y + h - 4);
      ctx.restore();
    }
  }
  function draw() {
    const W = canvas.clientWidth;
    ctx.clearRect(0, 0, W, canvas.clientHeight);
    ctx.font = '11px system-ui, sans-serif';
    // axis
    // a tick every 1, 2 or 5 x 10^n µs, at least 90 pixels apart
    const span = view.t1 - view.t0;
    const raw = (span * 90) / Math.max(1, W - LABEL);
    const p10 = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p10).find((v) => v >= raw);
    ctx.fillStyle = '#667';
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = xOf(t);
      ctx.fillRect(x, 0, 1, 4);
      ctx.fillText(fmtUs(t), x + 2, 11);
    }
    view.rows.forEach((r, i) => {
      const y = (i + 1) * ROW;
      ctx.fillStyle = i % 2 ? '#f6f7fa' : '#fff';
      ctx.fillRect(0, y, W, ROW);
      ctx.fillStyle = '#223';
      ctx.fillText(r.label.length > 36 ? r.label.slice(0, 35) + '…' : r.label, 4, y + ROW - 5);
      if (r.counter) {
        const max = Math.max(1, ...r.counter.map((c) => c.args.pending));
        ctx.fillStyle = '#f0a030';
        r.counter.forEach((c, j) => {
          const next = r.counter[j + 1] ? r.counter[j + 1].ts : view.t1;
          const h = ((ROW - 4) * c.args.pending) / max;
          const x0 = Math.max(LABEL, xOf(c.ts));
          const x1 = Math.min(W, xOf(next));
          if (x1 > x0) ctx.fillRect(x0, y + ROW - 2 - h, x1 - x0, h);
        });
        return;
      }
      if (r.task) {
        for (const s of r.slices) bar(s, y + 2, ROW - 8);
        for (const s of r.sched) if (s.name.startsWith('running')) bar(s, y + ROW - 5, 3, '#445');
        for (const s of r.user) bar(s, y + ROW - 5, 3, '#3aa57a');
        for (const v of r.verdicts) {
          const x = xOf(v.ts);
          if (x < LABEL || x > W) continue;
          ctx.fillStyle = v.name.startsWith('switched') ? '#2d7a45' : '#d33';
          ctx.fillRect(x - 1, y + 1, 3, ROW - 2);
        }
        return;
      }
      for (const s of r.slices) bar(s, y + 2, ROW - 4);
      for (const s of r.irqs || []) bar(s, y + 1, 4, '#b03a2e');
    });
    if (view.cursor !== null) {
      const x = xOf(view.cursor);
      ctx.fillStyle = '#c00';
      ctx.fillRect(x, 0, 1.5, canvas.clientHeight);
    }
    $('range').textContent = fmtUs(view.t0) + ' – ' + fmtUs(view.t1) + (view.cursor !== null ? '   cursor ' + fmtUs(view.cursor) : '');
  }
  function setRange(t0, t1) {
    const s = data[view.session];
    const end = s.trace.endNs / 1000;
    const minSpan = 1;
    if (t1 - t0 < minSpan) {
      const m = (t0 + t1) / 2;
      t0 = m - minSpan / 2;
      t1 = m + minSpan / 2;
    }
    view.t0 = Math.max(0, t0);
    view.t1 = Math.min(Math.max(end, 1), t1);
    if (view.t1 <= view.t0) view.t1 = view.t0 + minSpan;
    draw();
  }
  const fit = () => setRange(0, Math.max(1, data[view.session].trace.endNs / 1000));
  function zoom(f, at) {
    const c = at === undefined ? (view.t0 + view.t1) / 2 : at;
    setRange(c - (c - view.t0) * f, c + (view.t1 - c) * f);
  }
  /** Centres the timeline on a moment (µs) and marks it. */
  view.goTo = function (us, span) {
    view.cursor = us;
    const half = (span || Math.max(2000, (view.t1 - view.t0) / 20)) / 2;
    setRange(us - half, us + half);
    $('timeline-section').scrollIntoView({ block: 'start' });
  };

  // --- pointer: zoom, pan, tooltip -----------------------------------------------------------
  canvas.addEventListener('wheel', (e) => {
    if (e.offsetX < LABEL) return;
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, usOf(e.offsetX));
  }, { passive: false });
  let drag = null;
  canvas.addEventListener('mousedown', (e) => (drag = { x: e.clientX, t0: view.t0, t1: view.t1 }));
  window.addEventListener('mouseup', () => (drag = null));
  window.addEventListener('mousemove', (e) => {
    if (!drag) return;
    const dt = ((e.clientX - drag.x) / (canvas.clientWidth - LABEL)) * (drag.t1 - drag.t0);
    setRange(drag.t0 - dt, drag.t1 - dt);
  });
  canvas.addEventListener('mousemove', (e) => {
    const tip = $('tip');
    const r = view.rows[Math.floor(e.offsetY / ROW) - 1];
    if (!r || e.offsetX < LABEL || drag) return void (tip.hidden = true);
    const t = usOf(e.offsetX);
    const tol = (view.t1 - view.t0) / (canvas.clientWidth - LABEL) * 3;
    const pool = r.task ? [...r.verdicts, ...r.user, ...r.slices] : [...(r.irqs || []), ...(r.slices || [])];
    const hit = pool.find((s) => t >= s.ts - tol && t <= s.ts + s.dur + tol);
    if (!hit) return void (tip.hidden = true);
    const args = hit.args ? Object.entries(hit.args).map(([k, v]) => k + ': ' + v).join('\n') : '';
    tip.textContent = hit.name + '\n' + fmtUs(hit.ts) + ' +' + fmtUs(hit.dur) + (args ? '\n' + args : '');
    tip.style.left = Math.min(e.offsetX + 12, canvas.clientWidth - 260) + 'px';
    tip.style.top = e.offsetY + 14 + 'px';
    tip.hidden = false;
  });
  canvas.addEventListener('mouseleave', () => ($('tip').hidden = true));
  $('fit').onclick = fit;
  $('zoom-in').onclick = () => zoom(0.5);
  $('zoom-out').onclick = () => zoom(2);
  window.addEventListener('resize', resize);

  // --- the other sections --------------------------------------------------------------------
  function renderStalled(s) {
    const out = $('stalled-body');
    if (!s.stalled.length) {
      out.innerHTML = '<p class="empty">' + (s.transition ? 'no task blocks the transition now' : 'no transition in progress at the end of the session') + '</p>';
      return;
    }
    out.innerHTML = s.stalled.map((t) => {
      const st = t.stack;
      const stack = st ? esc(st.where) + (st.reliable ? '' : ' (unreliable: ' + esc(st.unreliable || '') + ')') + '\n' + st.trace.map(esc).join('\n') : '';
      const d = t.disassembly;
      const code = d ? d.lines.map((l) => '<span' + (l.mark ? ' class="mark"' : '') + '>' + (l.mark ? '=> ' : '   ') + esc(l.address.padEnd(28)) + ' ' + esc(l.text) + '</span>').join('\n') : '';
      return '<div class="task" data-pid="' + t.pid + '"><h3>' + esc(t.comm) + ' <span class="mono">pid ' + t.pid + '</span> <span class="why">' + esc(t.blocked || '') + '</span></h3>' +
        '<div class="cols"><div><b>Reliable stack trace</b><pre class="stack">' + stack + '</pre></div>' +
        (d ? '<div><b>' + esc(d.function) + '</b>, around return address ' + esc(d.address) + '<pre class="disasm">' + code + '</pre></div>' : '') + '</div></div>';
    }).join('');
  }
  function renderTasks(s) {
    if (!s.tasks.length) return void ($('tasks-body').innerHTML = '<p class="empty">no livepatch in this session</p>');
    $('tasks-body').innerHTML = '<table><tr><th>PID</th><th>COMM</th><th>PATCH</th><th>FLAG</th><th>SWITCH</th></tr>' +
      s.tasks.map((t) => '<tr><td>' + t.pid + '</td><td>' + esc(t.comm) + '</td><td>' + esc(t.patchState) + '</td><td>' + (t.pending ? 'pending' : '') + '</td><td>' + esc(t.blocked || '') + '</td></tr>').join('') + '</table>';
  }
  function renderSysfs(s) {
    $('sysfs-body').textContent = s.sysfs.length ? s.sysfs.map((e) => e.mode + ' ' + e.path + (e.value !== undefined ? ' = ' + e.value : '')).join('\n') : '(empty)';
  }
  function renderLog(s) {
    $('log-body').innerHTML = s.log.map((l) => '<div><a href="#t=' + l.tsNs + '" data-ns="' + l.tsNs + '">' + esc(stamp(l.tsNs)) + '</a> ' + esc(l.text) + '</div>').join('');
  }
  $('log-body').addEventListener('click', (e) => {
    const a = e.target.closest('a[data-ns]');
    if (!a) return;
    e.preventDefault();
    view.goTo(Number(a.dataset.ns) / 1000);
  });

  function show(i) {
    view.session = i;
    const s = data[i];
    view.rows = buildRows(s);
    view.cursor = null;
    const blocked = s.stalled.length ? s.stalled.length + ' task(s) blocking ' + (s.transition ? s.transition.patch : '') : s.transition ? 'transition of ' + s.transition.patch + ' in progress' : 'no transition in progress';
    $('summary').textContent = 'emulated ' + fmtUs(s.trace.endNs / 1000) + ', ' + s.trace.nrCpus + ' vCPUs — ' + blocked;
    renderStalled(s);
    renderTasks(s);
    renderSysfs(s);
    renderLog(s);
    view.t0 = 0;
    view.t1 = Math.max(1, s.trace.endNs / 1000);
    resize();
  }
  const sel = $('session');
  data.forEach((s, i) => sel.add(new Option(s.trace.name || 'session ' + (i + 1), String(i))));
  sel.hidden = data.length < 2;
  sel.onchange = () => show(Number(sel.value));
  if (data.length) show(0);
})();
`;
