// The status page's "who is still on plaintext" section: peers seen in local mode, and which client
// configuration dials which node how. Kept apart from the node table; it adds no verdict.
import { notListedSentence, PEERS_LISTED, topPeers } from '../peers/plaintext-peers.ts';
import type { CollectionView } from '../view/collection-view.ts';
import { escapeHtml } from './html.ts';

function peersSection(s: CollectionView): string {
  const nodes = s.nodes.filter((n) => n.plaintextPeers);
  if (nodes.length === 0) return '';
  const blocks = nodes.map((n) => {
    const { top, other } = topPeers(n.plaintextPeers!, PEERS_LISTED);
    const node = escapeHtml(n.node);
    if (top.length === 0)
      return `<p data-peers-node="${node}"><strong>${node}</strong>: <span class="ok">no plaintext connections open</span></p>`;
    const total = top.reduce((sum, p) => sum + p.connections, other?.connections ?? 0);
    const rows = top
      .map(
        (p) =>
          `<tr data-peer="${escapeHtml(p.address)}"><td><code>${escapeHtml(p.address)}</code></td><td>${p.name ? escapeHtml(p.name) : '<span class="na">–</span>'}</td><td>${p.connections}</td><td>${escapeHtml(new Date(p.firstSeenMs).toISOString())}</td></tr>`,
      )
      .join('');
    const table = `<table class="peers"><thead><tr><th>Client address</th><th>Name</th><th>Connections</th><th>Connected since (first seen)</th></tr></thead><tbody>${rows}</tbody></table>`;
    const summary = `<strong>${node}</strong>: ${top.length + (other?.peers ?? 0)} client address(es) hold ${total} plaintext connection(s) open`;
    const rest = other ? `<p data-peers-not-listed="${other.peers}">${notListedSentence(other)}</p>` : '';
    return `<div data-peers-node="${node}"><p>${summary}</p>${table}${rest}</div>`;
  });
  return `<section id="plaintext-peers"><h2>Plaintext clients connected now (local mode)</h2>${blocks.join('\n')}</section>`;
}

function clientsSection(s: CollectionView): string {
  const report = s.clients;
  if (!report) return '';
  const rows = report.routes
    .map((r) => {
      const storage = r.virtualStorage ? `${r.virtualStorage} / ${r.storage}` : r.storage;
      const scheme = r.scheme
        ? `<span class="${r.tls ? 'ok' : r.scheme === 'unix' ? 'na' : 'bad'}">${r.scheme}</span>`
        : '<span class="na">–</span>';
      const flags = r.messages.map((m) => `<li>${escapeHtml(m)}</li>`).join('');
      return `<tr data-client="${escapeHtml(r.client)}" data-storage="${escapeHtml(storage)}"><td>${escapeHtml(r.client)}</td><td>${escapeHtml(storage)}</td><td>${r.node ? escapeHtml(r.node) : '<span class="na">not in inventory</span>'}</td><td>${scheme}</td><td><ul class="reasons">${flags}</ul></td></tr>`;
    })
    .join('\n');
  const errors = report.errors.map((e) => `<li class="bad">${escapeHtml(e.client)}: ${escapeHtml(e.error.message)}</li>`).join('');
  return `<section id="client-routes"><h2>Client configuration: who dials which node how</h2>
<table class="clients"><thead><tr><th>Client</th><th>Storage</th><th>Node</th><th>Scheme</th><th>What to change</th></tr></thead><tbody>${rows}</tbody></table>${errors ? `<ul>${errors}</ul>` : ''}</section>`;
}

export function renderClientSections(s: CollectionView): string {
  return [peersSection(s), clientsSection(s)].filter(Boolean).join('\n');
}
