// Writes deploy/kubernetes/ (npm run generate): the Deployment, Service, ServiceMonitor, the
// PrometheusRule made from deploy/prometheus/rules/*.yml, the dashboards as ConfigMaps for Grafana's
// sidecar, and the exporter's config.yml as a ConfigMap. The objects are typed (kubernetes-models):
// a misspelt field fails the type check, a wrong value fails validate() here. Nothing in
// deploy/kubernetes/*.yaml is edited by hand; test/packaging/kubernetes.slow.test.ts compares them with a
// fresh run, so a changed rules file or dashboard tells its author to re-run this.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { parse, stringify } from 'yaml';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const KUBERNETES_DIR = join(ROOT, 'deploy', 'kubernetes');
export const RULES_DIR = join(ROOT, 'deploy', 'prometheus', 'rules');
export const DASHBOARDS_DIR = join(ROOT, 'dashboards');

const NAME = 'gitaly-tls-exporter';
const PORT = 9787;
/** The label kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules by (its release name). */
const PROMETHEUS_SELECTOR_LABELS = { release: 'kube-prometheus-stack' };
/** The label Grafana's dashboard sidecar (kiwigrid k8s-sidecar, as in kube-prometheus-stack) watches. */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: '1' };

interface Model {
  validate(): void;
  toJSON(): unknown;
}

/** Rule files: every *.yml under deploy/prometheus/rules except promtool's *.test.yml. */
export function ruleFiles(): string[] {
  return readdirSync(RULES_DIR)
    .filter((f) => f.endsWith('.yml') && !f.endsWith('.test.yml'))
    .sort()
    .map((f) => join(RULES_DIR, f));
}

export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(DASHBOARDS_DIR, f));
}

function objects(): Array<{ file: string; sources: string[]; models: Model[] }> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const selector = { 'app.kubernetes.io/name': NAME };
  const labels = { ...selector, 'app.kubernetes.io/version': pkg.version, 'app.kubernetes.io/part-of': 'gitlab' };
  const configFile = join(KUBERNETES_DIR, 'config.yml');
  const configText = readFileSync(configFile, 'utf8');
  const configMap = new ConfigMap({ metadata: { name: `${NAME}-config`, labels }, data: { 'config.yml': configText } });

  const deployment = new Deployment({
    metadata: { name: NAME, labels },
    spec: {
      // One writer of the state file (a ReadWriteOnce volume): never two pods at once.
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels,
          // A changed config.yml rolls the pod (the exporter also reloads on SIGHUP, which Kubernetes does not send).
          annotations: { 'checksum/config': createHash('sha256').update(configText).digest('hex') },
        },
        spec: {
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'exporter',
              // The image the Dockerfile builds (user node, uid 1000); kustomization.yaml's `images` says where yours lives.
              image: `${NAME}:${pkg.version}`,
              args: ['--config.file=/etc/gitaly-tls-exporter/config.yml', `--web.listen-address=:${PORT}`],
              ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
              livenessProbe: { httpGet: { path: '/-/healthy', port: 'http' }, periodSeconds: 30, timeoutSeconds: 5 },
              // Ready after the first full collection.
              readinessProbe: { httpGet: { path: '/-/ready', port: 'http' }, periodSeconds: 10, timeoutSeconds: 5 },
              // docs/benchmark.md: ~300 MiB peak at 1,000 nodes.
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/gitaly-tls-exporter', readOnly: true },
                { name: 'gitaly-ca', mountPath: '/etc/gitaly-tls-ca', readOnly: true },
                { name: 'state', mountPath: '/var/lib/gitaly-tls-exporter' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${NAME}-config` } },
            // The CA that signs the Gitaly certificates (GitLab's trusted-certs); you create it:
            // kubectl create configmap gitaly-tls-ca --from-file=ca.crt=/etc/gitlab/trusted-certs/gitaly-ca.crt
            { name: 'gitaly-ca', configMap: { name: 'gitaly-tls-ca' } },
            { name: 'state', persistentVolumeClaim: { claimName: `${NAME}-state` } },
            { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
          ],
        },
      },
    },
  });

  // "Observed since" and "plaintext last seen" survive restarts and rescheduling.
  const pvc = new PersistentVolumeClaim({
    metadata: { name: `${NAME}-state`, labels },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } },
  });

  // The job label Prometheus gives the targets is this Service's name: the rules expect gitaly-tls-exporter.
  const service = new Service({
    metadata: { name: NAME, labels },
    spec: { selector, ports: [{ name: 'http', port: PORT, targetPort: 'http', protocol: 'TCP' }] },
  });

  const serviceMonitor = new ServiceMonitor({
    metadata: { name: NAME, labels: { ...labels, ...PROMETHEUS_SELECTOR_LABELS } },
    spec: {
      selector: { matchLabels: selector },
      endpoints: [{ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }],
    },
  });

  const rules = ruleFiles();
  const groups = rules.flatMap((file) => (parse(readFileSync(file, 'utf8')) as { groups: unknown[] }).groups);
  const prometheusRule = new PrometheusRule({
    metadata: { name: NAME, labels: { ...labels, ...PROMETHEUS_SELECTOR_LABELS } },
    spec: { groups: groups as NonNullable<PrometheusRule['spec']>['groups'] },
  });

  const dashboards = dashboardFiles();
  const dashboardMaps = dashboards.map((file) => {
    const base = file.slice(DASHBOARDS_DIR.length + 1);
    return new ConfigMap({
      metadata: {
        name: `${NAME}-dashboard-${base.replace(/\.json$/, '').replace(/^gitaly-tls-/, '')}`,
        labels: { ...labels, ...GRAFANA_DASHBOARD_LABEL },
      },
      data: { [base]: readFileSync(file, 'utf8') },
    });
  });

  return [
    { file: 'configmap.yaml', sources: [configFile], models: [configMap] },
    { file: 'deployment.yaml', sources: [], models: [deployment] },
    { file: 'persistentvolumeclaim.yaml', sources: [], models: [pvc] },
    { file: 'service.yaml', sources: [], models: [service] },
    { file: 'servicemonitor.yaml', sources: [], models: [serviceMonitor] },
    { file: 'prometheusrule.yaml', sources: rules, models: [prometheusRule] },
    { file: 'dashboards.yaml', sources: dashboards, models: dashboardMaps },
  ];
}

/** Every file of deploy/kubernetes/ this script owns, by name, with its exact content. */
export function generateKubernetes(): Map<string, string> {
  const out = new Map<string, string>();
  const files = objects();
  for (const { file, sources, models } of files) {
    const from = sources.length ? ` from ${sources.map((s) => relative(ROOT, s)).join(', ')}` : '';
    const header = `# Generated by \`npm run generate\` (scripts/generate-kubernetes.ts)${from}.\n# Do not edit: change the source and re-run.\n`;
    const docs = models.map((m) => {
      m.validate();
      return stringify(m.toJSON(), { lineWidth: 0 });
    });
    out.set(file, header + docs.join('---\n'));
  }
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: files.map((f) => f.file),
    // Where your build of the Dockerfile lives.
    images: [{ name: NAME, newName: `registry.example.com/gitlab/${NAME}` }],
  };
  out.set('kustomization.yaml', `# Generated by \`npm run generate\` (scripts/generate-kubernetes.ts).\n${stringify(kustomization)}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [file, text] of generateKubernetes()) {
    writeFileSync(join(KUBERNETES_DIR, file), text);
    process.stdout.write(`${relative(ROOT, join(KUBERNETES_DIR, file))}\n`);
  }
}
