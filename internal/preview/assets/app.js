// mailmerge preview: the list of recipients and the selected message.
// Served as /app.js so the page's policy can forbid inline scripts; every
// piece of campaign data goes into the page as text, never as markup.
'use strict';

(() => {
  const pageSize = 50;
  const $ = (id) => document.getElementById(id);
  const view = { version: 0, query: '', problemsOnly: false, offset: 0, matched: 0, selected: 0 };
  let rowsSeq = 0;
  let messageSeq = 0;

  // el builds an element; strings become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) e.append(c);
    }
    return e;
  }

  async function getJSON(url) {
    const res = await fetch(url, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) {
      const err = new Error(body.error || res.statusText);
      err.hint = body.hint || '';
      throw err;
    }
    return body;
  }

  function size(n) {
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MB';
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KB';
    return n + ' bytes';
  }

  function setStatus(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('bad', !!bad);
  }

  async function loadState() {
    const st = await getJSON('api/state');
    view.version = st.version;
    const counts = $('counts');
    counts.textContent = st.loads
      ? `${st.rows} ${st.rows === 1 ? 'recipient' : 'recipients'}, ${st.invalid} with problems` +
        (st.suppressed ? `, ${st.suppressed} suppressed (not sent)` : '')
      : 'does not load';
    counts.classList.toggle('bad', !st.loads || st.invalid > 0);
    const box = $('problems');
    box.replaceChildren();
    for (const p of st.problems) {
      box.append(el('p', {}, p.message));
      if (p.hint) box.append(el('p', { class: 'hint' }, 'hint: ' + p.hint));
    }
    box.hidden = st.problems.length === 0;
    const t = new Date(st.loaded);
    setStatus(st.indexing ? 'reading the list again…' : `version ${st.version} · read ${t.toLocaleTimeString()}`);
    $('status').title = 'watching: ' + (st.files || []).join(', ');
  }

  async function loadRows() {
    const seq = ++rowsSeq;
    const p = new URLSearchParams({ q: view.query, offset: String(view.offset), limit: String(pageSize) });
    if (view.problemsOnly) p.set('problems', '1');
    const data = await getJSON('api/rows?' + p);
    if (seq !== rowsSeq) return; // a newer search answered first
    if (data.rows.length === 0 && view.offset > 0 && data.matched > 0) {
      view.offset = Math.max(0, Math.floor((data.matched - 1) / pageSize) * pageSize);
      return loadRows();
    }
    view.matched = data.matched;
    const body = $('rows').tBodies[0];
    body.replaceChildren();
    for (const r of data.rows) {
      const tr = el('tr', { 'data-row': String(r.row), tabindex: '0' }, el('td', { class: 'num' }, String(r.row || '?')));
      if (r.error) {
        tr.classList.add('bad');
        const cell = el('td', { colspan: '3', class: 'error' }, r.error);
        if (r.hint) cell.append(el('div', { class: 'hint' }, 'hint: ' + r.hint));
        tr.append(cell);
      } else {
        const subject = el('td', { class: 'subject' }, r.subject);
        if (r.suppressed) {
          // Send skips the row; the message is still shown, as it was written.
          tr.classList.add('suppressed');
          tr.title = 'suppressed: ' + r.suppressed + '; send skips this row';
          subject.prepend(el('span', { class: 'tag' }, 'suppressed'), ' ');
        }
        tr.append(el('td', { class: 'to' }, r.to), subject,
          el('td', { class: 'num' }, r.attachments ? String(r.attachments) : ''));
      }
      if (r.row === view.selected) tr.classList.add('selected');
      body.append(tr);
    }
    if (data.rows.length === 0) {
      body.append(el('tr', {}, el('td', { colspan: '4', class: 'none' }, view.query ? 'No recipient matches.' : 'No recipients.')));
    }
    const first = data.matched === 0 ? 0 : view.offset + 1;
    const last = view.offset + data.rows.length;
    const of = data.matched === data.total ? `${data.total}` : `${data.matched} matching (${data.total} in all)`;
    $('page').textContent = `${first}–${last} of ${of}`;
    $('prev').disabled = view.offset === 0;
    $('next').disabled = last >= data.matched;
  }

  function markSelected() {
    for (const tr of $('rows').tBodies[0].rows) {
      tr.classList.toggle('selected', tr.dataset.row === String(view.selected));
    }
  }

  function section(title, ...content) {
    return el('section', { class: 'part' }, el('h3', {}, title), ...content);
  }

  async function showMessage(row) {
    const seq = ++messageSeq;
    view.selected = row;
    markSelected();
    const pane = $('message');
    let m;
    try {
      m = await getJSON(`api/message/${row}`);
    } catch (err) {
      if (seq !== messageSeq) return;
      pane.replaceChildren(el('h2', { id: 'msg-subject', class: 'bad' }, `Row ${row} cannot be sent`),
        el('p', { class: 'error' }, err.message), err.hint ? el('p', { class: 'hint' }, 'hint: ' + err.hint) : null);
      return;
    }
    if (seq !== messageSeq) return;
    // The MIME plumbing is folded away: the parts below show its result.
    const headers = el('table', { class: 'headers' });
    const mime = el('table', { class: 'headers' });
    for (const h of m.headers) {
      if (h.name === 'Subject') continue;
      const plumbing = h.name === 'Mime-Version' || h.name.startsWith('Content-');
      (plumbing ? mime : headers).append(el('tr', {}, el('th', {}, h.name), el('td', {}, h.value)));
    }
    if (m.bcc && m.bcc.length) {
      headers.append(el('tr', {}, el('th', {}, 'Bcc'), el('td', {}, m.bcc.join(', ') + ' (envelope only)')));
    }
    headers.append(el('tr', { class: 'envelope' }, el('th', {}, 'Envelope'),
      el('td', {}, `MAIL FROM ${m.envelope_from} · RCPT TO ${m.envelope_to.join(', ')}`)));
    const download = el('a', { href: `message/${row}/eml?v=${m.version}`, download: m.file, id: 'download' }, 'Download .eml');
    const parts = [];
    if (m.html) {
      // No allow-scripts, no allow-same-origin: the message's HTML runs
      // nothing and reaches nothing; the frame's own policy allows only
      // its inline images.
      parts.push(section('HTML part', el('iframe', {
        id: 'html-part', sandbox: '', referrerpolicy: 'no-referrer', title: 'HTML part',
        src: `message/${row}/body.html?v=${m.version}`,
      })));
    }
    parts.push(section('Text part', el('pre', { id: 'text-part' }, m.text || '(none)')));
    const files = (list, what) => el('ul', { class: 'files' }, ...list.map((a) =>
      el('li', {}, el('span', { class: 'name' }, a.name || '(no name)'), ` ${a.type}, ${size(a.size)}`)));
    if (m.attachments.length) parts.push(section(`Attachments (${m.attachments.length})`, files(m.attachments)));
    if (m.inline.length) parts.push(section(`Inline images (${m.inline.length})`, files(m.inline)));
    pane.replaceChildren(
      el('h2', { id: 'msg-subject' }, m.subject),
      m.suppressed ? el('p', { class: 'bad', id: 'suppressed' }, `Suppressed: ${m.suppressed}. Send skips this row.`) : '',
      el('p', { class: 'actions' }, `Row ${m.row} · ${size(m.size)} · `, download),
      headers, el('details', { class: 'mime' }, el('summary', {}, 'MIME headers'), mime), ...parts);
  }

  async function refresh() {
    try {
      await loadState();
      await loadRows();
      if (view.selected) await showMessage(view.selected);
    } catch (err) {
      setStatus(err.message, true);
    }
  }

  let searchTimer = 0;
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      view.query = $('search').value;
      view.offset = 0;
      loadRows().catch((err) => setStatus(err.message, true));
    }, 150);
  });
  $('only-problems').addEventListener('change', () => {
    view.problemsOnly = $('only-problems').checked;
    view.offset = 0;
    loadRows().catch((err) => setStatus(err.message, true));
  });
  $('prev').addEventListener('click', () => {
    view.offset = Math.max(0, view.offset - pageSize);
    loadRows().catch((err) => setStatus(err.message, true));
  });
  $('next').addEventListener('click', () => {
    view.offset += pageSize;
    loadRows().catch((err) => setStatus(err.message, true));
  });
  const tbody = $('rows').tBodies[0];
  tbody.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-row]');
    if (tr && tr.dataset.row !== '0') showMessage(Number(tr.dataset.row));
  });
  tbody.addEventListener('keydown', (ev) => {
    const tr = ev.target.closest('tr[data-row]');
    if (!tr) return;
    let next = null;
    if (ev.key === 'ArrowDown') next = tr.nextElementSibling;
    else if (ev.key === 'ArrowUp') next = tr.previousElementSibling;
    else if (ev.key === 'Enter') next = tr;
    if (next && next.dataset.row) {
      ev.preventDefault();
      next.focus();
      showMessage(Number(next.dataset.row));
    }
  });

  refresh();

  // The server says "change" once on connecting and again after every
  // rebuild; a reconnect after a restart shows the new state too.
  const events = new EventSource('events');
  events.addEventListener('change', (ev) => {
    if (Number(ev.data) !== view.version) refresh();
  });
  events.addEventListener('error', () => {
    if (events.readyState !== EventSource.OPEN) setStatus('not connected: is mailmerge preview still running?', true);
  });
})();
