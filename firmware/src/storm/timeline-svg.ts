// The storm as a picture: one row per node, time left to right, each stretch
// coloured by the boot stage the node was in; a failed boot ends in a red
// cross. Plain SVG, no script, readable in any browser.
import type { BootStage } from '../model/boot.js';
import type { NodeResult } from './virtual-node.js';

export const STAGE_COLOURS: Partial<Record<BootStage, string>> = {
  power_on: '#bdbdbd',
  dhcp_discover: '#f6c343',
  offered: '#f39c12',
  acknowledged: '#e67e22',
  nbp_tftp: '#8e44ad',
  ipxe_dhcp: '#3498db',
  script: '#1abc9c',
  kernel: '#27ae60',
  initrd: '#16a085',
};

const escape = (text: string): string => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function timelineSvg(nodes: readonly NodeResult[], title: string): string {
  const left = 70;
  const top = 40;
  const width = 1000;
  const rowHeight = Math.max(1, Math.min(14, Math.floor(700 / Math.max(1, nodes.length))));
  const plotHeight = rowHeight * nodes.length;
  // Rows under 4 px cannot be hovered usefully: no per-stretch tooltips, which would make a
  // 1,000-node picture several times larger (the failure crosses keep theirs).
  const tooltips = rowHeight >= 4;
  const end = Math.max(1000, ...nodes.map((n) => n.finishedAt));
  const x = (ms: number): number => left + (ms / end) * width;
  const out: string[] = [];
  const legendY = top + plotHeight + 40;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 20}" height="${legendY + 30}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="14">${escape(title)}</text>`);
  // Time axis with about ten ticks on round seconds.
  const step = niceStep(end / 10);
  for (let t = 0; t <= end; t += step) {
    out.push(`<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${top + plotHeight}" stroke="#eee"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${top + plotHeight + 14}" text-anchor="middle">${(t / 1000).toFixed(step < 1000 ? 1 : 0)} s</text>`);
  }
  nodes.forEach((node, row) => {
    const y = top + row * rowHeight;
    if (rowHeight >= 8)
      out.push(`<text x="${left - 4}" y="${y + rowHeight - 2}" text-anchor="end" font-size="${Math.min(10, rowHeight)}">${node.index}</text>`);
    node.stages.forEach((mark, i) => {
      const until = node.stages[i + 1]?.at ?? node.finishedAt;
      const colour = STAGE_COLOURS[mark.stage];
      if (!colour || until <= mark.at) return;
      out.push(
        `<rect x="${x(mark.at).toFixed(1)}" y="${y}" width="${Math.max(0.5, x(until) - x(mark.at)).toFixed(1)}" height="${Math.max(1, rowHeight - 1)}" fill="${colour}"` +
          (tooltips
            ? `><title>${escape(`node ${node.index} ${node.mac} ${mark.stage} ${(mark.at / 1000).toFixed(2)}-${(until / 1000).toFixed(2)} s`)}</title></rect>`
            : '/>'),
      );
    });
    if (node.outcome !== 'booted') {
      const cx = x(node.finishedAt);
      const h = Math.max(2, rowHeight / 2);
      out.push(
        `<path d="M${(cx - h).toFixed(1)} ${y} l${2 * h} ${rowHeight} m0 ${-rowHeight} l${-2 * h} ${rowHeight}" stroke="#c0392b" stroke-width="1.5"><title>${escape(`node ${node.index}: ${node.outcome} — ${node.detail}`)}</title></path>`,
      );
    }
  });
  let lx = left;
  for (const [stage, colour] of Object.entries(STAGE_COLOURS)) {
    out.push(`<rect x="${lx}" y="${legendY - 9}" width="10" height="10" fill="${colour}"/><text x="${lx + 14}" y="${legendY}">${stage}</text>`);
    lx += 14 + stage.length * 6.5 + 14;
  }
  out.push(`<path d="M${lx} ${legendY - 9} l10 10 m0 -10 l-10 10" stroke="#c0392b" stroke-width="1.5"/><text x="${lx + 14}" y="${legendY}">failed</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}
