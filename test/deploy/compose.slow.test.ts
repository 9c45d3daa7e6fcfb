// Static checks of the docker-compose stack (no Docker engine needed): `docker-compose config`
// normalises the file, then every cross-reference between compose, the Dockerfile, Prometheus,
// Grafana and the exporter config is followed. The demo fleet is started once, on loopback, to
// check that deploy/exporter/config.yml matches the ports and files it really uses.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/duration.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { REPO_ROOT } from '../helpers/dashboard-queries.ts';
import { scaled } from '../helpers/time-factor.ts';
import { realPart } from '../helpers/real-parts.ts';

/** The demo fleet's port scheme with --base-port: node i gets base + 3i (metrics), +1 (TLS), +2 (plaintext). */
const BASE_PORT = 10000;
const PORTS_PER_NODE = 3;
const DEMO_HOST = 'demo-fleet';

interface Service {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  volumes?: Array<string | { type: string; source: string; target: string }>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}
interface ExporterNode {
  name: string;
  role: string;
  metrics_url: string;
  tls_address?: string;
  plaintext_address?: string;
  certificate_file?: string;
}
interface ExporterConfig {
  ca_file: string;
  state_file: string;
  prometheus: { url: string };
  nodes: ExporterNode[];
}
interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  static_configs: Array<{ targets: string[] }>;
}
interface PrometheusConfig {
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
  alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
}

interface Mount {
  source: string;
  target: string;
  bind: boolean;
}

function mountsOf(service: Service): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, bind: v.type === 'bind' };
    const [source = '', target = ''] = v.split(':');
    return { source, target, bind: source.startsWith('/') || source.startsWith('.') };
  });
}

/** The host path behind a path inside a service's container, through its bind mounts. */
function hostPath(service: Service, containerPath: string): string | undefined {
  for (const mount of mountsOf(service)) {
    if (!mount.bind) continue;
    if (containerPath === mount.target) return mount.source;
    if (containerPath.startsWith(`${mount.target}/`)) return join(mount.source, containerPath.slice(mount.target.length + 1));
  }
  return undefined;
}

/** The named volume mounted over a container path, if any. */
function namedVolumeAt(service: Service, containerPath: string): string | undefined {
  return mountsOf(service).find((m) => !m.bind && (containerPath === m.target || containerPath.startsWith(`${m.target}/`)))?.source;
}

function flag(command: string[] | undefined, name: string): string | undefined {
  const args = command ?? [];
  for (const [i, arg] of args.entries()) {
    if (arg === name) return args[i + 1];
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return undefined;
}

/** Dockerfile stages: base image, name, and the instructions after FROM. */
function dockerfileStages(): Array<{ from: string; name?: string; lines: string[] }> {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages: Array<{ from: string; name?: string; lines: string[] }> = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1]!, ...(from[2] ? { name: from[2] } : {}), lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

const hostPort = (address: string) => {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
};
const isPinned = (image: string) => /:[^/:]*\d[^/:]*$/.test(image) && !image.endsWith(':latest');

describe('docker-compose stack', () => {
  let compose: Compose;
  let services: Record<string, Service>;
  let exporterConfig: ExporterConfig;
  let prometheusConfig: PrometheusConfig;

  before(async function () {
    this.timeout(scaled(60_000));
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(realPart('dockerCompose'), ['-f', 'docker-compose.yml', 'config'], { cwd: REPO_ROOT, timeout: 50_000 }));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`docker-compose config failed:\n${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`);
    }
    compose = parse(stdout) as Compose;
    services = compose.services;
    exporterConfig = parse(readFileSync(join(REPO_ROOT, 'deploy/exporter/config.yml'), 'utf8')) as ExporterConfig;
    prometheusConfig = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as PrometheusConfig;
  });

  it('runs the demo fleet, exporter, Prometheus, Alertmanager and Grafana', () => {
    expect(Object.keys(services)).to.include.members(['demo-fleet', 'exporter', 'prometheus', 'alertmanager', 'grafana']);
  });

  it('bind-mounts only files and directories that exist in the repository', () => {
    let binds = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const mount of mountsOf(service).filter((m) => m.bind)) {
        binds++;
        expect(existsSync(mount.source), `${name}: ${mount.source}`).to.be.true;
        expect(mount.source.startsWith(REPO_ROOT), `${name}: ${mount.source} is outside the repository`).to.be.true;
      }
    }
    expect(binds).to.be.greaterThan(5);
  });

  it('pins every image to a version, and builds ours from a pinned base image', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue;
      expect(service.image, name).to.be.a('string');
      expect(isPinned(service.image!), `${name}: ${service.image} is not pinned to a version`).to.be.true;
    }
    const stages = dockerfileStages();
    const names = stages.flatMap((s) => (s.name ? [s.name] : []));
    for (const stage of stages.filter((s) => !names.includes(s.from))) {
      // The current Node LTS (24): Node 20 reached its upstream end of life on 2026-04-30.
      expect(stage.from).to.match(/^node:24\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    }
  });

  it('builds the exporter image to run the single-file bundle as a non-root user, with no node_modules', () => {
    const stages = dockerfileStages();
    const final = stages.at(-1)!;
    const users = final.lines.filter((l) => /^USER\s/i.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(users, 'USER in the final stage').to.not.be.empty;
    expect(users.at(-1)).to.not.be.oneOf(['root', '0', '0:0']);
    // The bundle has every dependency inside (scripts/bundle.ts): nothing is installed in the final stage.
    expect(final.lines.filter((l) => /\bnpm\b|node_modules/.test(l)), 'npm or node_modules in the final stage').to.deep.equal([]);
    const build = stages.find((s) => s.name === 'build');
    expect(build?.lines, 'the build stage makes the bundle').to.include('RUN npm run bundle');
    expect(final.lines).to.include('COPY --from=build /app/dist/gitaly-tls-exporter.mjs ./dist/main.js');
    expect(final.lines).to.include('EXPOSE 9787');
    expect(final.lines.find((l) => l.startsWith('ENTRYPOINT'))).to.contain('dist/main.js');
    const demo = stages.find((s) => s.name === services['demo-fleet']!.build?.target);
    expect(demo?.lines.find((l) => l.startsWith('ENTRYPOINT')), 'demo-fleet stage').to.contain('src/demo/main.ts');
  });

  it('checks the exporter health at /-/healthy', () => {
    const fromCompose = services.exporter!.healthcheck?.test?.join(' ') ?? '';
    const fromDockerfile = dockerfileStages().at(-1)!.lines.find((l) => l.startsWith('HEALTHCHECK')) ?? '';
    expect(`${fromCompose} ${fromDockerfile}`).to.contain('127.0.0.1:9787/-/healthy');
  });

  it('gives the exporter its config file, the demo certificates and a writable state directory', () => {
    const exporter = services.exporter!;
    const configPath = flag(exporter.command, '--config.file');
    expect(configPath, 'exporter --config.file').to.be.a('string');
    expect(hostPath(exporter, configPath!)).to.equal(join(REPO_ROOT, 'deploy/exporter/config.yml'));

    const demo = services['demo-fleet']!;
    const demoDir = flag(demo.command, '--dir')!;
    const certificates = namedVolumeAt(demo, demoDir);
    expect(certificates, 'demo-fleet --dir is a named volume').to.be.a('string');
    for (const file of [exporterConfig.ca_file, ...exporterConfig.nodes.flatMap((n) => (n.certificate_file ? [n.certificate_file] : []))]) {
      expect(posix.dirname(file), file).to.equal(demoDir);
      expect(namedVolumeAt(exporter, file), `${file} is not on the demo fleet's volume`).to.equal(certificates);
    }
    expect(namedVolumeAt(exporter, posix.dirname(exporterConfig.state_file)), 'state_file directory').to.be.a('string');
    expect(exporter.depends_on?.['demo-fleet']?.condition, 'exporter waits for the demo certificates').to.equal('service_healthy');
    expect(hostPort(new URL(exporterConfig.prometheus.url).host).host).to.be.oneOf(Object.keys(services));
  });

  it('ships an exporter config the exporter accepts, given the files the containers provide', () => {
    // Inside the exporter container /demo holds the demo fleet's files and /state is writable.
    const config = loadConfigFile('deploy/exporter/config.yml', {
      cwd: REPO_ROOT,
      fileExists: (p) => (p === '/demo' || p === '/state' ? 'dir' : p.startsWith('/demo/') ? 'file' : 'missing'),
      dirWritable: (p) => p === '/state',
    });
    expect(config.nodes.map((n) => n.name)).to.deep.equal(exporterConfig.nodes.map((n) => n.name));
    expect(config.soakWindowMs).to.equal(60_000);
    expect(config.prometheus?.url).to.equal('http://prometheus:9090');
    expect(config.stateFile).to.equal('/state/gitaly-tls-exporter.state.json');
    // The exporter keeps its own dials clear of Prometheus's window edges by the scrape interval it
    // is told: it must be the one Prometheus really uses for Gitaly and Praefect.
    for (const job of ['gitaly', 'praefect']) {
      const interval = prometheusConfig.scrape_configs.find((c) => c.job_name === job)?.scrape_interval;
      expect(interval === undefined ? undefined : parseDuration(interval), job).to.equal(config.prometheus?.scrapeIntervalMs);
    }
  });

  it('configures the exporter with the demo fleet port scheme and names', () => {
    const command = services['demo-fleet']!.command;
    expect(flag(command, '--base-port')).to.equal(String(BASE_PORT));
    expect(flag(command, '--advertise-host')).to.equal(DEMO_HOST);
    expect(flag(command, '--host')).to.equal('0.0.0.0');
    expect(exporterConfig.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1', 'gitaly-2', 'gitaly-3', 'gitaly-4', 'praefect-1']);
    for (const [i, node] of exporterConfig.nodes.entries()) {
      const base = BASE_PORT + PORTS_PER_NODE * i;
      expect(node.metrics_url, node.name).to.equal(`http://${DEMO_HOST}:${base}/metrics`);
      if (node.role === 'gitaly') {
        expect(node.tls_address, node.name).to.equal(`${DEMO_HOST}:${base + 1}`);
        expect(node.certificate_file, node.name).to.equal(`/demo/${node.name}.crt`);
      }
      expect(node.plaintext_address, node.name).to.equal(`${DEMO_HOST}:${base + 2}`);
    }
    expect(exporterConfig.nodes.find((n) => n.name === 'praefect-1')?.tls_address).to.equal(undefined);
  });

  it('scrapes the exporter, Gitaly and Praefect at the compose services and ports the exporter config names', () => {
    const jobs = new Map(prometheusConfig.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]));
    expect(jobs.get('gitaly-tls-exporter')).to.deep.equal(['exporter:9787']);
    const metricsOf = (role: string) => exporterConfig.nodes.filter((n) => n.role === role).map((n) => new URL(n.metrics_url).host);
    expect(jobs.get('gitaly')).to.deep.equal(metricsOf('gitaly'));
    expect(jobs.get('praefect')).to.deep.equal(metricsOf('praefect'));
    for (const [job, targets] of jobs) {
      for (const target of targets) expect([...Object.keys(services), 'localhost'], `${job}: ${target}`).to.include(hostPort(target).host);
    }
    for (const target of prometheusConfig.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))) {
      expect(hostPort(target).host).to.equal('alertmanager');
    }
  });

  it('loads rule files that exist, and not their unit tests, and routes alerts to defined receivers', () => {
    const prometheus = services.prometheus!;
    expect(hostPath(prometheus, flag(prometheus.command, '--config.file')!)).to.equal(join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'));
    expect(prometheusConfig.rule_files).to.not.be.empty;
    for (const file of prometheusConfig.rule_files) {
      expect(file).to.not.contain('test');
      const onHost = hostPath(prometheus, file);
      expect(onHost && existsSync(onHost), `${file} is not mounted from the repository`).to.be.true;
    }
    const alertmanager = services.alertmanager!;
    const amConfig = hostPath(alertmanager, flag(alertmanager.command, '--config.file')!);
    expect(amConfig && existsSync(amConfig), 'alertmanager config').to.be.true;
    // Alertmanager refuses to start when a route names a receiver that is not defined.
    interface Route { receiver?: string; routes?: Route[] }
    const am = parse(readFileSync(amConfig!, 'utf8')) as { route: Route; receivers: Array<{ name: string }> };
    const receivers = am.receivers.map((r) => r.name);
    const routed = (route: Route): string[] => [...(route.receiver ? [route.receiver] : []), ...(route.routes ?? []).flatMap(routed)];
    expect(routed(am.route)).to.not.be.empty;
    for (const receiver of routed(am.route)) expect(receivers, `route to ${receiver}`).to.include(receiver);
  });

  it('provisions Grafana with the Prometheus data source and both dashboards', () => {
    const grafana = services.grafana!;
    const datasources = hostPath(grafana, '/etc/grafana/provisioning/datasources')!;
    const dsFiles = readdirSync(datasources).map((f) => parse(readFileSync(join(datasources, f), 'utf8')) as { datasources: Array<{ type: string; url: string }> });
    const urls = dsFiles.flatMap((f) => f.datasources.filter((d) => d.type === 'prometheus').map((d) => new URL(d.url)));
    expect(urls.map((u) => u.host)).to.deep.equal(['prometheus:9090']);

    const providersDir = hostPath(grafana, '/etc/grafana/provisioning/dashboards')!;
    const providers = readdirSync(providersDir).flatMap((f) => (parse(readFileSync(join(providersDir, f), 'utf8')) as { providers: Array<{ options: { path: string } }> }).providers);
    expect(providers).to.have.length(1);
    const dashboardsOnHost = hostPath(grafana, providers[0]!.options.path);
    expect(dashboardsOnHost).to.equal(join(REPO_ROOT, 'dashboards'));
    expect(readdirSync(dashboardsOnHost!).filter((f) => f.endsWith('.json')).sort()).to.deep.equal(['gitaly-tls-certificates.json', 'gitaly-tls-migration.json']);
  });

  describe('against the real demo fleet', () => {
    let fleet: DemoFleet | undefined;
    let base = 0;
    let dir = '';

    before(async function () {
      this.timeout(scaled(30_000));
      dir = mkdtempSync(join(tmpdir(), 'gitaly-tls-compose-'));
      // A fixed base port may be taken on a shared machine: try several, below Linux's ephemeral
      // range (32768+) so that outgoing connections do not collide with them.
      for (let attempt = 0; attempt < 20 && !fleet; attempt++) {
        base = 20_000 + Math.floor(Math.random() * 12_000);
        try {
          fleet = await startDemoFleet({ dir, host: '127.0.0.1', advertiseHost: DEMO_HOST, basePort: base });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
      }
    });

    after(async () => {
      await fleet?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('uses the nodes, ports and certificate files of deploy/exporter/config.yml', () => {
      expect(fleet, 'demo fleet started').to.not.equal(undefined);
      const shift = (address: string | undefined) => {
        if (address === undefined) return undefined;
        const { host, port } = hostPort(address);
        return `${host}:${port - base + BASE_PORT}`;
      };
      const actual = fleet!.nodes.map((n) => ({
        name: n.name,
        role: n.role,
        metrics: shift(new URL(n.metricsUrl).host),
        tls: shift(n.tlsAddress),
        plaintext: shift(n.plaintextAddress),
        certificate: n.certificateFile === undefined ? undefined : basename(n.certificateFile),
      }));
      const configured = exporterConfig.nodes.map((n) => ({
        name: n.name,
        role: n.role,
        metrics: new URL(n.metrics_url).host,
        tls: n.tls_address,
        plaintext: n.plaintext_address,
        certificate: n.certificate_file === undefined ? undefined : basename(n.certificate_file),
      }));
      expect(configured).to.deep.equal(actual);
      expect(basename(fleet!.caFile)).to.equal(basename(exporterConfig.ca_file));
    });
  });
});
