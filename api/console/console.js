// The approvals page (README.md, "Approvals page"). Plain browser JavaScript, no build step: it
// reads missions over the gateway's REST routes, and signs approvals and votes with the person's
// key using tweetnacl (the global `nacl`, loaded before this module). The secret key lives in this
// module's memory only; the bearer token in sessionStorage, so it ends with the tab.
/* global nacl */

const TOKEN_KEY = 'swoosh.console.token';
/** Re-reads of HEAD when it moved, or when the mission names a later window of the same review. */
const ATTEMPTS = 5;

const $ = (id) => document.getElementById(id);

/** The loaded key: `{ keyId, secretKey }`, or null. */
let signer = null;
/** The last HLC this page stamped: each proposal sorts after every earlier one. */
let lastHlc = { wall: 0, counter: 0 };

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  // textContent only: objectives, evidence and reasons come from outside and are never markup.
  for (const child of children) node.append(child);
  return node;
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'omit',
    cache: 'no-store',
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { ok: res.ok, status: res.status, body: json };
}

function problemText(res) {
  const body = res.body ?? {};
  if (body.failing_guard) return `refused by ${body.failing_guard}: ${body.reasons.join('; ')}`;
  return `${res.status} ${body.title ?? ''}${body.detail ? `: ${body.detail}` : ''}`;
}

// --- The bytes SWOOSH signs (schemas/canonical-json.ts, schemas/signed-bytes.ts) ---

/** Canonical JSON: sorted keys, no whitespace, undefined properties left out, nothing lossy. */
function canonical(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error('a non-finite number has no canonical JSON');
      return JSON.stringify(value);
    case 'object': {
      const keys = Object.keys(value)
        .sort()
        .filter((k) => value[k] !== undefined);
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
    }
    default:
      throw new Error(`a ${typeof value} has no canonical JSON`);
  }
}

const utf8 = (text) => new TextEncoder().encode(text);

function base64(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function hashCanonical(value) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(canonical(value))));
  return `sha256-${Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function sign(text) {
  return base64(nacl.sign.detached(utf8(text), signer.secretKey));
}

/** The next HLC (schemas/hlc.ts `hlcSend`): after the mission's last and this page's last. */
function nextHlc(missionLast) {
  let last = lastHlc;
  if (missionLast) {
    const [instant, counter] = missionLast.split('#');
    const seen = { wall: Date.parse(instant), counter: Number(counter) };
    if (seen.wall > last.wall || (seen.wall === last.wall && seen.counter > last.counter)) last = seen;
  }
  const now = Date.now();
  lastHlc = now > last.wall ? { wall: now, counter: 0 } : { wall: last.wall, counter: last.counter + 1 };
  return `${new Date(lastHlc.wall).toISOString().slice(0, -1)}+00:00#${lastHlc.counter}`;
}

// --- Token and key ---

function showToken() {
  $('token-status').textContent = sessionStorage.getItem(TOKEN_KEY)
    ? 'A token is set for this tab.'
    : 'No token: paste one (README.md, "Approvals page").';
}

async function loadKey(file) {
  let parsed;
  try {
    parsed = JSON.parse(await file.text());
  } catch {
    throw new Error('not a JSON key file');
  }
  const secret = typeof parsed?.secretKey === 'string' ? fromBase64(parsed.secretKey) : null;
  if (secret === null || (secret.length !== 64 && secret.length !== 32))
    throw new Error('no ed25519 secretKey (base64 of 64 bytes) in this file');
  const pair =
    secret.length === 64 ? nacl.sign.keyPair.fromSecretKey(secret) : nacl.sign.keyPair.fromSeed(secret);
  // tweetnacl trusts the public half of a 64-byte key: check it belongs to the seed.
  const derived = nacl.sign.keyPair.fromSeed(pair.secretKey.slice(0, 32));
  const keyId = `ed25519:${base64(derived.publicKey)}`;
  if (base64(pair.publicKey) !== base64(derived.publicKey) || (parsed.keyId && parsed.keyId !== keyId))
    throw new Error('the key file does not match its own public key');
  return { keyId, secretKey: derived.secretKey };
}

// --- Missions ---

/** What a mission waits for from a person, or null. */
function waitingFor(view) {
  const state = view.state;
  if (!state) return null;
  if (state.execution.phase === 'REVIEW') return 'approval';
  if (state.council.phase === 'ELECT' && state.council.council_set_hash) return 'vote';
  return null;
}

/** Counts listings asked for: one that lands after a later one was asked for is stale. */
let listings = 0;

async function refresh() {
  const mine = ++listings;
  const status = $('list-status');
  const list = $('missions');
  status.textContent = 'Loading…';
  const page = await api('GET', '/missions?pageSize=100');
  if (mine !== listings) return;
  if (!page.ok) {
    status.textContent = `Could not list missions: ${problemText(page)}`;
    return;
  }
  const running = page.body.missions.filter((m) => m.status === 'RUNNING');
  const views = await Promise.all(running.map((m) => api('GET', `/missions/${m.missionId}`)));
  const waiting = views.filter((v) => v.ok && waitingFor(v.body) !== null).map((v) => v.body);
  const cards = await Promise.all(waiting.map(card));
  // A slower, older listing must not replace the cards a person may already be acting on.
  if (mine !== listings) return;
  list.replaceChildren(...cards);
  status.textContent = waiting.length === 0 ? 'Nothing is waiting.' : `${waiting.length} mission(s) waiting.`;
}

async function card(view) {
  const state = view.state;
  const kind = waitingFor(view);
  const node = element('article', { className: 'mission' });
  node.dataset.mission = view.missionId;
  node.dataset.waiting = kind;
  node.append(
    element('h3', {}, `${view.prompt.objective}`),
    element('p', { className: 'mono' }, `mission ${view.missionId} · ${view.phase} · HEAD ${view.hash}`),
  );
  const result = element('p', { className: 'result', role: 'status' });
  if (kind === 'approval') {
    const exec = state.execution;
    const approved = exec.approvals.filter((a) => a.decision === 'approve').length;
    node.append(
      element(
        'p',
        {},
        `Beat ${exec.beat} in REVIEW (window ${exec.window_id}): ${approved} approval(s) so far.`,
      ),
      section('Evidence under review', exec.evidence),
      section(
        'Decisions on this beat',
        exec.approvals.map((a) => `${a.decision} by ${a.approver}`),
      ),
    );
    const shown = { beat: exec.beat, evidence: canonical(exec.evidence) };
    const actions = element('p', { className: 'actions' });
    for (const decision of ['approve', 'reject']) {
      const button = element(
        'button',
        { type: 'button', className: decision },
        decision === 'approve' ? 'Approve' : 'Reject',
      );
      button.addEventListener('click', () => act(result, () => approve(view.missionId, decision, shown)));
      actions.append(button);
    }
    node.append(actions);
  } else {
    const council = state.council;
    node.append(
      element(
        'p',
        {},
        `Council election: ${council.members.length} member(s) for roles ${council.roles.join(', ')}.`,
      ),
      element('p', { className: 'mono' }, `member set ${council.council_set_hash}`),
      section(
        'Members',
        council.members.map((m) => `${m.id}: ${m.key}`),
      ),
    );
    const button = element('button', { type: 'button', className: 'vote' }, 'Vote for this council');
    button.addEventListener('click', () => act(result, () => vote(view.missionId, council.council_set_hash)));
    node.append(element('p', { className: 'actions' }, button));
  }
  const validation = state.ingestion.validation;
  node.append(
    section(
      'Validation report (ingestion)',
      validation
        ? [
            `${validation.passed ? 'passed' : 'FAILED'} · report ${validation.report_hash}`,
            ...validation.violations.map((v) => `violation: ${v}`),
          ]
        : ['none yet'],
    ),
    await recentDecisions(view.missionId),
    result,
  );
  return node;
}

function section(title, lines) {
  const list = element('ul');
  for (const line of lines.length ? lines : ['none']) list.append(element('li', { className: 'mono' }, line));
  return element('div', {}, element('h4', {}, title), list);
}

/** The mission's latest decisions from its ledger (oldest first, so read to the end): who decided what, where. */
async function recentDecisions(missionId) {
  const wrap = element('div', {}, element('h4', {}, 'Latest decisions (ledger)'));
  let latest = [];
  let token;
  do {
    const query = `pageSize=500${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
    const page = await api('GET', `/missions/${missionId}/ledger?${query}`);
    if (!page.ok) {
      wrap.append(element('p', {}, `ledger: ${problemText(page)}`));
      return wrap;
    }
    latest = [...latest, ...page.body.records].slice(-8);
    token = page.body.nextPageToken;
  } while (token);
  const rows = latest.map((r) =>
    element(
      'tr',
      {},
      element('td', { className: 'mono' }, r.decided_at),
      element('td', {}, r.transition),
      element('td', { className: 'mono' }, r.signer),
      element('td', { className: 'mono' }, r.window_id),
    ),
  );
  const head = element(
    'tr',
    {},
    ...['when', 'transition', 'signer', 'window'].map((h) => element('th', {}, h)),
  );
  wrap.append(element('table', { className: 'ledger' }, head, ...rows));
  return wrap;
}

async function act(result, run) {
  result.className = 'result';
  if (!signer) {
    result.textContent = 'Load your key file first.';
    result.classList.add('refused');
    return;
  }
  result.textContent = 'Signing…';
  let outcome;
  try {
    outcome = await run();
  } catch (error) {
    outcome = { ok: false, text: error instanceof Error ? error.message : String(error) };
  }
  result.textContent = outcome.text;
  result.classList.add(outcome.ok ? 'accepted' : 'refused');
}

/** The window id the guard names as current, when that is its only objection (same review, later bar). */
function currentWindowFrom(res) {
  const body = res.body ?? {};
  if (res.status !== 400 || body.failing_guard !== 'window' || body.reasons.length !== 1) return null;
  return /is not the current window (\S+)$/.exec(body.reasons[0])?.[1] ?? null;
}

/**
 * An Execution_Approve proposal (docs/design.md#proposals) against HEAD, citing the evidence shown.
 * HEAD is re-read when it moved; if the beat or its evidence changed since the page showed it, the
 * person has not reviewed what is now under review, so nothing is signed.
 */
async function approve(missionId, decision, shown) {
  let windowId = null;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const read = await api('GET', `/missions/${missionId}`);
    if (!read.ok) return { ok: false, text: problemText(read) };
    const { state, hash } = read.body;
    const exec = state.execution;
    if (exec.phase !== 'REVIEW' || exec.beat !== shown.beat || canonical(exec.evidence) !== shown.evidence)
      return { ok: false, text: 'The mission moved on since this page showed it: refresh and review again.' };
    const inputs = { decision };
    const unsigned = {
      current_state_hash: hash,
      transition: 'Execution_Approve',
      inputs_hash: await hashCanonical(inputs),
      signer: signer.keyId,
      idem_key: `${missionId}:${exec.beat}:approval:${crypto.randomUUID()}`,
      hlc: nextHlc(state.hlc_last),
      window_id: windowId ?? exec.window_id,
      evidence: exec.evidence,
      inputs,
    };
    const res = await api('POST', `/missions/${missionId}/approvals`, {
      ...unsigned,
      signature: sign(canonical(unsigned)),
    });
    if (res.status === 202)
      return {
        ok: true,
        text: `${decision === 'approve' ? 'Approved' : 'Rejected'}: ${res.body.decision_id}`,
      };
    if (res.status === 409) continue;
    const current = currentWindowFrom(res);
    if (current !== null && current !== windowId) {
      windowId = current;
      continue;
    }
    return { ok: false, text: problemText(res) };
  }
  return { ok: false, text: 'HEAD kept moving: try again.' };
}

/** A council vote (schemas/signed-bytes.ts `voteSigningBytes`) as the member whose key is loaded. */
async function vote(missionId, councilSetHash) {
  const read = await api('GET', `/missions/${missionId}`);
  if (!read.ok) return { ok: false, text: problemText(read) };
  const council = read.body.state.council;
  if (council.council_set_hash !== councilSetHash)
    return { ok: false, text: 'The council changed since this page showed it: refresh and review again.' };
  const member = council.members.find((m) => m.key === signer.keyId);
  if (!member) return { ok: false, text: `Your key ${signer.keyId} is not a member of this council.` };
  const claim = {
    kind: 'swoosh.vote/v1',
    mission_id: missionId,
    member: member.id,
    council_set_hash: councilSetHash,
  };
  const res = await api('POST', `/missions/${missionId}/votes`, {
    member: member.id,
    council_set_hash: councilSetHash,
    signature: sign(canonical(claim)),
  });
  if (res.status === 202)
    return { ok: true, text: `Voted as ${member.id}: ${res.body.accepted} of ${res.body.required}` };
  return { ok: false, text: problemText(res) };
}

function start() {
  if (!window.isSecureContext || !crypto.subtle) {
    $('list-status').textContent =
      'This page signs with your key and needs a secure context: open it over https or on localhost.';
    return;
  }
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $('token').value = '';
    showToken();
    void refresh();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showToken();
  });
  $('key-file').addEventListener('change', async (event) => {
    const file = event.target.files?.[0];
    // The file input is cleared at once: the key is in this module's memory, nowhere on the page.
    event.target.value = '';
    if (!file) return;
    try {
      signer = await loadKey(file);
      $('key-status').textContent = `Signing as ${signer.keyId}`;
    } catch (error) {
      signer = null;
      $('key-status').textContent = `Key not loaded: ${error.message}`;
    }
  });
  $('key-forget').addEventListener('click', () => {
    signer = null;
    $('key-status').textContent = 'No key loaded.';
  });
  $('refresh').addEventListener('click', () => void refresh());
  showToken();
  $('key-status').textContent = 'No key loaded.';
  if (sessionStorage.getItem(TOKEN_KEY)) void refresh();
}

start();
