// The markdown summary: every table from the same run, with the ratio
// rackboot / peer beside each peer's number (above 1 = rackboot better for
// rates and throughput; for times the ratio is peer / rackboot so that above 1
// still means rackboot better — each table says which).

const fmt = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : typeof v === 'number' ? v.toFixed(digits) : String(v));
const ratio = (a, b) =>
  a === null || b === null || a === undefined || b === undefined || !b || Number.isNaN(a) || Number.isNaN(b) ? 'n/a' : `${(a / b).toFixed(2)}x`;

export function markdownSummary(results, plotPrefix) {
  const out = [`# rackboot benchmark ${results.date}${results.quick ? ' (quick run: reduced sizes, not the issue matrix)' : ''}`, ''];
  out.push(
    `Machine: ${results.machine.cpus} CPUs (${results.machine.cpuModel}), ${results.machine.memoryGb} GB. Peers: ${Object.entries(results.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
  );
  out.push(
    'All servers ran one after another in the same run, on the same namespaces and the same shaped link. Ratios are rackboot / peer from this run; above 1x means rackboot did better.',
    '',
  );

  if (results.dhcp) {
    out.push('## DHCP: perfdhcp DORA', '', `![DHCP](${plotPrefix}dhcp-rate.svg)`, '');
    out.push('| offered rate | server | exchanges/s | drops % | DISCOVER-OFFER ms | REQUEST-ACK ms | rackboot / this |', '|---|---|---|---|---|---|---|');
    for (const r of results.dhcp) {
      const mine = results.dhcp.find((x) => x.server === 'rackboot' && x.offeredRate === r.offeredRate);
      out.push(
        `| ${r.offeredRate}/s | ${r.server} | ${fmt(r.rate)} | ${fmt(r.dropPercent, 2)} | ${fmt(r.discoverOfferMs, 2)} | ${fmt(r.requestAckMs, 2)} | ${r.server === 'rackboot' ? '' : ratio(mine?.rate, r.rate)} |`,
      );
    }
    out.push(
      '',
      'rackboot runs with its lease journal fsync on (every ACK waits for fdatasync); Kea uses memfile (no fsync), dnsmasq rewrites its lease file.',
      '',
    );
  }
  if (results.tftp) {
    out.push('## TFTP: atftp, blksize 1468', '', `![TFTP](${plotPrefix}tftp-throughput.svg)`, '');
    out.push(
      '| streams | windowsize | loss % | server | completed | seconds | Mbit/s (completed) | goodput Mbit/s (all bytes) | median stream s | rackboot / this (goodput) |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const r of results.tftp) {
      const mine = results.tftp.find((x) => x.server === 'rackboot' && x.streams === r.streams && x.windowsize === r.windowsize && x.loss === r.loss);
      out.push(
        `| ${r.streams} | ${r.windowsize} | ${r.loss} | ${r.server} | ${r.completed}/${r.total} | ${fmt(r.seconds)} | ${fmt(r.mbitPerSecond)} | ${fmt(r.goodputMbit)} | ${fmt(r.medianStreamSeconds)} | ${r.server === 'rackboot' ? '' : ratio(mine?.goodputMbit, r.goodputMbit)} |`,
      );
    }
    out.push(
      '',
      'tftpd-hpa does not implement windowsize (RFC 7440): its windowsize-16 rows are lock-step. "Mbit/s (completed)" counts completed transfers only; goodput counts every byte received, including transfers cut at the cap.',
      '',
    );
  }
  if (results.http) {
    out.push('## HTTP: concurrent curl downloads', '', `![HTTP](${plotPrefix}http-throughput.svg)`, '');
    out.push('| clients | server | completed | seconds | Mbit/s | rackboot / this |', '|---|---|---|---|---|---|');
    const mine = results.http.find((x) => x.server === 'rackboot');
    for (const r of results.http)
      out.push(
        `| ${r.clients} | ${r.server} | ${r.completed}/${r.total} | ${fmt(r.seconds)} | ${fmt(r.mbitPerSecond)} | ${r.server === 'rackboot' ? '' : ratio(mine?.mbitPerSecond, r.mbitPerSecond)} |`,
      );
    out.push('');
  }
  if (results.dhcpLatencyUnderTftp) {
    out.push('## DHCP while TFTP saturates the server', '', `![latency](${plotPrefix}dhcp-latency-under-tftp.svg)`, '');
    out.push(
      '| server | DISCOVER-OFFER idle ms | under TFTP load ms | drops under load % | TFTP completed | this / rackboot (delay under load) |',
      '|---|---|---|---|---|---|',
    );
    const mine = results.dhcpLatencyUnderTftp.find((x) => x.server === 'rackboot');
    for (const r of results.dhcpLatencyUnderTftp) {
      out.push(
        `| ${r.server} | ${fmt(r.idle.discoverOfferMs, 2)} | ${fmt(r.underLoad.discoverOfferMs, 2)} | ${fmt(r.underLoad.dropPercent, 1)} | ${r.tftp.completed}/${r.tftp.total} | ${r.server === 'rackboot' ? '' : ratio(r.underLoad.discoverOfferMs, mine?.underLoad.discoverOfferMs)} |`,
      );
    }
    out.push('');
  }
  if (results.storm) {
    out.push('## Storm: `rackboot storm`, PXE ROM -> TFTP iPXE -> iPXE DHCP -> HTTP kernel + initrd', '', `![storm](${plotPrefix}storm-time.svg)`, '');
    out.push('Physical limit = bytes that must cross the link x 8 / link rate. Time ratio column: peer time / rackboot time (above 1x = rackboot faster).', '');
    for (const [title, rows] of [
      ['Classic table (6 nodes, small payload)', results.storm.classic],
      ['Scale', results.storm.scale],
    ]) {
      out.push(
        `### ${title}`,
        '',
        '| nodes | link | loss % | payload per node MB | time limit s | server | booted | time to last booted s | physical limit s | x physical | failures | peer / rackboot time |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|',
      );
      for (const r of rows) {
        const mine = rows.find((x) => x.server === 'rackboot' && x.nodes === r.nodes && x.rateKbit === r.rateKbit && x.lossPercent === r.lossPercent);
        const failures =
          Object.entries(r.failuresByDiagnosis)
            .map(([d, n]) => `${d} ${n}`)
            .join(', ') || '-';
        out.push(
          `| ${r.nodes} | ${r.rateKbit ? `${r.rateKbit} kbit/s` : 'unshaped'} | ${r.lossPercent} | ${r.payloadBytes === undefined ? 'n/a' : fmt(r.payloadBytes / 2 ** 20, 2)} | ${r.timeLimitSeconds ?? 'n/a'} | ${r.server} | ${r.booted}/${r.nodes} | ${fmt(r.timeToLastBootedMs === null ? null : r.timeToLastBootedMs / 1000)} | ${fmt(r.physicalLimitMs === null ? null : r.physicalLimitMs / 1000)} | ${fmt(r.ratioToPhysical, 2)} | ${failures} | ${r.server === 'rackboot' ? '' : ratio(r.timeToLastBootedMs, mine?.timeToLastBootedMs)} |`,
        );
      }
      out.push('');
    }
    out.push('Payload per node = kernel + initrd (the NBP, undionly.kpxe, comes on top). A node not booted within the time limit counts as took_too_long.', '');
    out.push(`Per-storm timelines: ${plotPrefix}storm-*.svg.`, '');
  }
  return out.join('\n') + '\n';
}
