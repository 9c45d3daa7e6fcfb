// deploy/kubernetes/: generated, never hand-maintained (a fresh `npm run generate` must give the same
// files), valid against the Kubernetes and Prometheus Operator schemas (kubernetes-models), wired to
// each other, and the PrometheusRule carries exactly the rules of deploy/prometheus/rules/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { expect } from 'chai';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments, stringify } from 'yaml';
import {
  dashboardFiles,
  generateKubernetes,
  GRAFANA_DASHBOARD_LABEL,
  KUBERNETES_DIR,
  ruleFiles,
} from '../../scripts/generate-kubernetes.ts';
import { createCa } from '../../src/demo/certs.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { realPart } from '../helpers/real-parts.ts';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** The objects of the committed manifests, as kubectl would read them. */
function committedObjects(): K8sObject[] {
  const files = (parse(readFileSync(join(KUBERNETES_DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] }).resources;
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(KUBERNETES_DIR, file), 'utf8')).map((doc) => {
      expect(doc.errors, file).to.deep.equal([]);
      return doc.toJS() as K8sObject;
    }),
  );
}

const isSubset = (part: Record<string, string> | undefined, whole: Record<string, string> | undefined): boolean =>
  part !== undefined && Object.keys(part).length > 0 && Object.entries(part).every(([k, v]) => whole?.[k] === v);

describe('Kubernetes manifests (deploy/kubernetes/)', function () {
  this.timeout(60_000);
  const objects = committedObjects();
  const find = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
  const only = (kind: string): K8sObject => {
    const found = find(kind);
    expect(found, kind).to.have.length(1);
    return found[0]!;
  };

  it('are exactly what `npm run generate` makes now (rules, dashboards and config.yml included)', () => {
    const fresh = generateKubernetes();
    for (const [file, text] of fresh) {
      const committed = readFileSync(join(KUBERNETES_DIR, file), 'utf8');
      expect(committed === text, `deploy/kubernetes/${file} is stale: run \`npm run generate\` and commit the result`).to.equal(true);
    }
    const yamlFiles = readdirSync(KUBERNETES_DIR).filter((f) => f.endsWith('.yaml'));
    expect(yamlFiles.sort(), 'every .yaml in deploy/kubernetes/ comes from the generator').to.deep.equal([...fresh.keys()].sort());
  });

  it('validate against the Kubernetes and Prometheus Operator schemas', () => {
    expect(objects.length).to.be.greaterThan(6);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `no schema for ${object.apiVersion} ${object.kind}`).to.not.equal(undefined);
      expect(() => new Model!(object as never).validate(), `${object.kind} ${object.metadata.name}`).to.not.throw();
    }
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size, 'unique kind/name').to.equal(names.length);
  });

  it('the schema check rejects a broken object (so the test above can fail)', () => {
    const deployment = structuredClone(only('Deployment')) as unknown as {
      spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } };
    };
    deployment.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'http';
    expect(() => new Deployment(deployment as never).validate()).to.throw(/containerPort must be integer/);
  });

  it('carries exactly the rules of deploy/prometheus/rules/*.yml in the PrometheusRule, and promtool accepts them', () => {
    const expected = ruleFiles().flatMap((file) => (parse(readFileSync(file, 'utf8')) as { groups: unknown[] }).groups);
    expect(expected.length).to.be.greaterThan(0);
    const rule = only('PrometheusRule') as K8sObject & { spec: { groups: unknown[] } };
    expect(rule.spec.groups, 'PrometheusRule differs from the rules file: run `npm run generate`').to.deep.equal(expected);

    const dir = mkdtempSync(join(tmpdir(), 'gte-k8s-rules-'));
    try {
      const file = join(dir, 'from-prometheusrule.yml');
      writeFileSync(file, stringify({ groups: rule.spec.groups }));
      const r = spawnSync(realPart('promtool'), ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ships every dashboard as a ConfigMap for the Grafana sidecar, byte for byte', () => {
    const maps = find('ConfigMap').filter((m) => isSubset(GRAFANA_DASHBOARD_LABEL, m.metadata.labels));
    const files = dashboardFiles();
    expect(maps).to.have.length(files.length);
    for (const file of files) {
      const key = file.split('/').at(-1)!;
      const map = maps.find((m) => (m.data as Record<string, string>)[key] !== undefined);
      expect(map, `a ConfigMap with ${key}`).to.not.equal(undefined);
      expect((map!.data as Record<string, string>)[key]).to.equal(readFileSync(file, 'utf8'));
      // A ConfigMap holds at most 1 MiB.
      expect(Buffer.byteLength(JSON.stringify(map))).to.be.below(1024 * 1024);
    }
  });

  it('wires Service, ServiceMonitor, Deployment and volumes together, with the job name the rules expect', () => {
    const deployment = only('Deployment') as K8sObject & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: {
          metadata: { labels: Record<string, string> };
          spec: {
            containers: Array<{ ports: Array<{ name: string; containerPort: number }>; readinessProbe: { httpGet: { path: string } } }>;
            volumes: Array<{ name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }>;
          };
        };
      };
    };
    const service = only('Service') as K8sObject & {
      spec: { selector: Record<string, string>; ports: Array<{ name: string; targetPort: string }> };
    };
    const monitor = only('ServiceMonitor') as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
    };
    const pod = deployment.spec.template;
    expect(isSubset(deployment.spec.selector.matchLabels, pod.metadata.labels), 'Deployment selector matches its pods').to.equal(true);
    expect(isSubset(service.spec.selector, pod.metadata.labels), 'Service selects the pods').to.equal(true);
    expect(isSubset(monitor.spec.selector.matchLabels, service.metadata.labels), 'ServiceMonitor selects the Service').to.equal(true);
    const containerPorts = pod.spec.containers.flatMap((c) => c.ports.map((p) => p.name));
    for (const port of service.spec.ports) expect(containerPorts).to.include(port.targetPort);
    for (const endpoint of monitor.spec.endpoints) expect(service.spec.ports.map((p) => p.name)).to.include(endpoint.port);
    expect(pod.spec.containers[0]!.readinessProbe.httpGet.path).to.equal('/-/ready');

    const configMaps = find('ConfigMap').map((m) => m.metadata.name);
    const claims = find('PersistentVolumeClaim').map((m) => m.metadata.name);
    for (const volume of pod.spec.volumes) {
      // gitaly-tls-ca holds the operator's CA: created by hand (docs/deploy.md), not shipped.
      if (volume.configMap && volume.configMap.name !== 'gitaly-tls-ca') expect(configMaps).to.include(volume.configMap.name);
      if (volume.persistentVolumeClaim) expect(claims).to.include(volume.persistentVolumeClaim.claimName);
    }

    // Prometheus Operator names the job after the Service; the ExporterDown alert looks for it.
    const rulesText = ruleFiles()
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    expect(rulesText).to.contain(`job="${service.metadata.name}"`);
  });

  it("puts a valid exporter config.yml in the ConfigMap (with the pod's paths for the CA and the state)", async () => {
    const map = find('ConfigMap').find((m) => (m.data as Record<string, string> | undefined)?.['config.yml'] !== undefined);
    const text = (map!.data as Record<string, string>)['config.yml']!;
    expect(text).to.contain('ca_file: /etc/gitaly-tls-ca/ca.crt');
    expect(text).to.contain('state_file: /var/lib/gitaly-tls-exporter/state.json');
    const dir = mkdtempSync(join(tmpdir(), 'gte-k8s-config-'));
    try {
      mkdirSync(join(dir, 'state'));
      writeFileSync(join(dir, 'ca.crt'), (await createCa()).certPem);
      const file = join(dir, 'config.yml');
      writeFileSync(
        file,
        text
          .replace('ca_file: /etc/gitaly-tls-ca/ca.crt', `ca_file: ${join(dir, 'ca.crt')}`)
          .replace('state_file: /var/lib/gitaly-tls-exporter/', `state_file: ${join(dir, 'state')}/`),
      );
      const config = loadConfigFile(file);
      expect(config.nodes.length).to.be.greaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
