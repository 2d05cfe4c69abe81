// Grouped bar charts as plain SVG: one group per scenario, one bar per server.
const COLOURS = { rackboot: '#2e86de', dnsmasq: '#e67e22', kea: '#27ae60', 'tftpd-hpa': '#8e44ad', nginx: '#16a085', 'dnsmasq+nginx': '#e67e22' };
const escape = (t) => String(t).replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** groups: [{ label, bars: [{ server, value }] }]; null values are drawn as "n/a". */
export function barChart({ title, unit, groups }) {
  const servers = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.server)))];
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const left = 70;
  const top = 40;
  const height = 260;
  const barWidth = 18;
  const groupWidth = servers.length * barWidth + 24;
  const width = left + groups.length * groupWidth + 20;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.max(width, 420)}" height="${top + height + 90}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
  ];
  out.push(`<text x="${left}" y="20" font-size="14">${escape(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = top + height - (i / 4) * height;
    out.push(
      `<line x1="${left}" x2="${width}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${left - 4}" y="${y + 4}" text-anchor="end">${formatValue((i / 4) * max)}</text>`,
    );
  }
  out.push(`<text x="12" y="${top + height / 2}" transform="rotate(-90 12 ${top + height / 2})" text-anchor="middle">${escape(unit)}</text>`);
  groups.forEach((group, g) => {
    const x0 = left + g * groupWidth + 12;
    group.bars.forEach((bar) => {
      const x = x0 + servers.indexOf(bar.server) * barWidth;
      if (bar.value === null || bar.value === undefined || Number.isNaN(bar.value)) {
        out.push(`<text x="${x + barWidth / 2}" y="${top + height - 4}" text-anchor="middle" font-size="8">n/a</text>`);
        return;
      }
      const h = (bar.value / max) * height;
      out.push(
        `<rect x="${x}" y="${(top + height - h).toFixed(1)}" width="${barWidth - 2}" height="${h.toFixed(1)}" fill="${COLOURS[bar.server] ?? '#999'}"><title>${escape(`${group.label} ${bar.server}: ${formatValue(bar.value)} ${unit}`)}</title></rect>`,
      );
    });
    out.push(`<text x="${x0 + (servers.length * barWidth) / 2}" y="${top + height + 14}" text-anchor="middle" font-size="9">${escape(group.label)}</text>`);
  });
  servers.forEach((server, i) => {
    const x = left + i * 110;
    out.push(
      `<rect x="${x}" y="${top + height + 40}" width="10" height="10" fill="${COLOURS[server] ?? '#999'}"/><text x="${x + 14}" y="${top + height + 49}">${escape(server)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function formatValue(v) {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
