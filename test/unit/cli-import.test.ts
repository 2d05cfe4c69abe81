// Bulk import files for `rackboot nodes import`: CSV with a header (quoted cells,
// comments, ';'-separated tags) and YAML (a list, or a config file's hosts:),
// with every problem named by file, row and field before anything is sent.
import { describe, expect, it } from 'vitest';
import { ImportError, parseCsv, parseImport } from '../../firmware/src/app/cli/import.js';

describe('nodes import files', () => {
  it('reads CSV rows with quoted cells, comments, blank lines and any MAC spelling', () => {
    const text = [
      'mac,name,ip,power_channel,tags,notes',
      '# rack 1',
      '52-54-00-00-00-01,rack1-n01,10.0.0.11,pdu1,gpu;ib,"slot 1, top"',
      '',
      '5254.0000.0002,rack1-n02,,,,"says ""hi"""',
    ].join('\r\n');
    expect(parseImport('rack.csv', text)).toEqual([
      {
        where: 'rack.csv:3',
        node: { mac: '52:54:00:00:00:01', name: 'rack1-n01', ip: '10.0.0.11', powerChannel: 'pdu1', tags: ['gpu', 'ib'], notes: 'slot 1, top' },
      },
      { where: 'rack.csv:5', node: { mac: '52:54:00:00:00:02', name: 'rack1-n02', notes: 'says "hi"' } },
    ]);
  });

  it('reads YAML as a list or as a config file with hosts:, in either spelling', () => {
    const list = parseImport('nodes.yaml', '- { mac: "52:54:00:00:00:01", name: a, powerChannel: p1, tags: [gpu] }\n');
    expect(list).toEqual([{ where: 'nodes.yaml: [0]', node: { mac: '52:54:00:00:00:01', name: 'a', powerChannel: 'p1', tags: ['gpu'] } }]);
    const config = parseImport('rackboot.yaml', 'hosts:\n  - { mac: "52:54:00:00:00:02", hostname: b, power_channel: p2, ip: 10.0.0.12 }\n');
    expect(config).toEqual([{ where: 'rackboot.yaml: hosts[0]', node: { mac: '52:54:00:00:00:02', name: 'b', powerChannel: 'p2', ip: '10.0.0.12' } }]);
  });

  it('names file, row and field of every problem', () => {
    const fails = (file: string, text: string) => () => parseImport(file, text);
    expect(fails('a.csv', 'name,ip\nx,10.0.0.1\n')).toThrow("a.csv:1: the header has no 'mac' column (found name,ip)");
    expect(fails('a.csv', 'mac,name\n52:54:00:00:00:01\n')).toThrow('a.csv:2: found 1 fields, expected 2 as in the header');
    expect(fails('a.csv', 'mac,name\nnot-a-mac,x\n')).toThrow('a.csv:2: mac: found "not-a-mac", expected a MAC address');
    expect(fails('a.csv', 'mac,colour\n52:54:00:00:00:01,red\n')).toThrow('a.csv:2: colour: unknown field');
    expect(fails('a.csv', 'mac\n52:54:00:00:00:01\n52-54-00-00-00-01\n')).toThrow('a.csv:3: mac: 52:54:00:00:00:01 is already in a.csv:2');
    expect(fails('b.yaml', '- { name: x }\n')).toThrow('b.yaml: [0]: mac: missing');
    expect(fails('b.yaml', 'pools: []\n')).toThrow("b.yaml: expected a list of nodes, or a mapping with a 'hosts:' list");
    expect(fails('b.yaml', '- [1, 2\n')).toThrow(ImportError);
    expect(() => parseCsv('c.csv', 'mac\n"open\n')).toThrow('c.csv:2: a quoted field is not closed');
  });
});
