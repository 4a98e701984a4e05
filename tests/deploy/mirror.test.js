// The container image's base root is debootstrapped from the Debian mirror this machine's apt
// uses (scripts/lib/debian-mirror), never a mirror host written in our files.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..', '..');
const script = path.join(root, 'scripts', 'lib', 'debian-mirror');

function mirror(files, env = {}) {
  const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-apt-'));
  try {
    fs.mkdirSync(path.join(etc, 'sources.list.d'));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(etc, name), text);
    const { HUB2KUSTO_DEBIAN_MIRROR, ...rest } = process.env;
    return execFileSync(script, [etc], { env: { ...rest, ...env }, encoding: 'utf8' }).trim();
  } finally {
    fs.rmSync(etc, { recursive: true, force: true });
  }
}

test('the mirror comes from a deb822 sources file, main archive before security', () => {
  const sources = [
    'Types: deb', 'URIs: http://security.example/debian-security', 'Suites: bookworm-security',
    'Components: main', '', 'Types: deb-src deb', 'URIs: http://apt.example/debian',
    'Suites: bookworm bookworm-updates', 'Components: main', ''].join('\n');
  assert.equal(mirror({ 'sources.list.d/debian.sources': sources }), 'http://apt.example/debian');
});

test('the mirror comes from a one-line sources.list entry, options and all', () => {
  const list = '# comment\ndeb-src http://src.example/debian bookworm main\n' +
               'deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://apt.example/debian bookworm main\n';
  assert.equal(mirror({ 'sources.list': list }), 'http://apt.example/debian');
});

test('HUB2KUSTO_DEBIAN_MIRROR wins, and no source at all is a clear error', () => {
  assert.equal(mirror({}, { HUB2KUSTO_DEBIAN_MIRROR: 'http://chosen.example/debian' }),
               'http://chosen.example/debian');
  assert.throws(() => mirror({}), /no 'deb' source for bookworm/);
});

test('no Debian mirror host is written in the image build', () => {
  for (const file of ['deploy/build-image', 'tests/deploy/image-test', 'deploy/Dockerfile']) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    assert.doesNotMatch(text, /https?:\/\/[a-z0-9.-]*debian\.org/i, file);
  }
});
