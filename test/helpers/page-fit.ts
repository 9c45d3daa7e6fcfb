// Whether the status table fits a browser window: what a person on a laptop screen would miss if it
// did not (a page that scrolls sideways, a header cut off, the blocking reasons off to the right).
import { expect } from 'chai';
import type { Page } from 'playwright-core';

interface Box {
  text: string;
  left: number;
  right: number;
  /** Content wider than the element: text cut off or spilling out of its cell. */
  overflows: boolean;
  /** Words split across two lines. */
  brokenWords: string[];
}

interface Fit {
  viewportWidth: number;
  documentScrollWidth: number;
  documentClientWidth: number;
  headers: Box[];
  rows: number;
  /** Every body cell, named "node / column header". */
  cells: Box[];
  reasonCells: Box[];
  /** The blocking-reason codes, each a word a person looks up: never split. */
  reasonCodes: Box[];
}

// Sent as source text: tsx compiles this file with names kept, and the helper it would wrap a
// named function in (__name) does not exist in the page.
const MEASURE = `(() => {
  // Words of an element's text that the browser broke across lines ("listen_a" / "ddr").
  const brokenWords = (el) => {
    const broken = [];
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      for (const m of t.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(t, m.index);
        range.setEnd(t, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
    return broken;
  };
  const box = (el, text) => {
    const r = el.getBoundingClientRect();
    return { text, left: r.left, right: r.right, overflows: el.scrollWidth > el.clientWidth, brokenWords: brokenWords(el) };
  };
  // The node table: the one whose rows are nodes (the client tables come after it).
  const table = document.querySelector('tr[data-node]').closest('table');
  const heads = [...table.querySelectorAll('thead th')];
  const names = heads.map((th) => th.innerText.trim());
  const reasonsAt = names.indexOf('Blocking reasons');
  const cells = [];
  const reasonCells = [];
  for (const tr of table.querySelectorAll('tbody tr')) {
    const node = tr.getAttribute('data-node');
    [...tr.children].forEach((cell, i) => {
      const b = box(cell, node + ' / ' + (names[i] ?? 'column ' + (i + 1)));
      cells.push(b);
      if (i === reasonsAt) reasonCells.push(b);
    });
  }
  const reasonCodes = [...table.querySelectorAll('ul.reasons code')].map((c) => box(c, c.textContent));
  const root = document.scrollingElement;
  return {
    viewportWidth: window.innerWidth,
    documentScrollWidth: root.scrollWidth,
    documentClientWidth: root.clientWidth,
    headers: heads.map((th, i) => box(th, names[i])),
    rows: table.querySelectorAll('tbody tr').length,
    cells,
    reasonCells,
    reasonCodes,
  };
})()`;

const measure = (page: Page): Promise<Fit> => page.evaluate<Fit>(MEASURE);

const outside = (b: Box, width: number): boolean => b.left < 0 || b.right > width + 0.5;
const describeBox = (b: Box): string => `${b.text} (${Math.round(b.left)}–${Math.round(b.right)} px)`;

/**
 * Asserts the node table fits the page's viewport: no sideways scrolling, every column header whole
 * and on screen, every cell (the blocking reasons above all) on screen with nothing spilling out.
 */
export async function expectTableFits(page: Page, columns: string[]): Promise<void> {
  const fit = await measure(page);
  const w = fit.viewportWidth;
  expect(fit.documentScrollWidth, `the page scrolls sideways at ${w} px`).to.be.at.most(fit.documentClientWidth);
  expect(fit.headers.filter((h) => outside(h, w)).map(describeBox), `headers off screen at ${w} px`).to.deep.equal([]);
  expect(
    fit.headers.filter((h) => h.overflows).map((h) => h.text),
    `headers cut off at ${w} px`,
  ).to.deep.equal([]);
  expect(
    fit.headers.flatMap((h) => h.brokenWords),
    `header words split across lines at ${w} px`,
  ).to.deep.equal([]);
  expect(fit.rows, 'rows in the table').to.be.greaterThan(0);
  expect(fit.reasonCells.length, 'a blocking-reasons cell per row').to.equal(fit.rows);
  expect(fit.reasonCells.filter((c) => outside(c, w)).map(describeBox), `blocking reasons off screen at ${w} px`).to.deep.equal([]);
  expect(fit.cells.filter((c) => outside(c, w)).map(describeBox), `cells off screen at ${w} px`).to.deep.equal([]);
  expect(
    fit.cells.filter((c) => c.overflows).map((c) => c.text),
    `cells whose content spills out at ${w} px`,
  ).to.deep.equal([]);
  expect(
    fit.reasonCodes.flatMap((c) => c.brokenWords),
    `reason codes split across lines at ${w} px`,
  ).to.deep.equal([]);
  expect(
    fit.headers.map((h) => h.text),
    'the table has every column',
  ).to.deep.equal(columns);
}

/** The status table's column headers, as a person reads them. */
export const STATUS_COLUMNS = [
  'Node',
  'Phase',
  'Next step',
  'Soak',
  'Connections',
  'Cert expires',
  'Trusted',
  'Hostname',
  'ALPN h2',
  'TLS versions',
  'Restart',
  'listen_addr',
  'Blocking reasons',
];
