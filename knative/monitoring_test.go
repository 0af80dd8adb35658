package knative_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"knative.dev/serving/pkg/apis/serving"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// podMonitoring mirrors Google Cloud Managed Service for Prometheus's
// monitoring.googleapis.com/v1 PodMonitoring as far as we use it; strict
// decoding rejects any field not declared here.
type podMonitoring struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     intstr.IntOrString `json:"port"`
			Path     string             `json:"path"`
			Scheme   string             `json:"scheme"`
			Interval string             `json:"interval"`
			Timeout  string             `json:"timeout"`
		} `json:"endpoints"`
		TargetLabels struct {
			FromPod []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"fromPod"`
		} `json:"targetLabels"`
	} `json:"spec"`
}

// gmpReservedLabels are the labels Managed Prometheus sets on every series
// itself (the prometheus_target resource); a target label of ours must not
// take one.
var gmpReservedLabels = []string{"project_id", "location", "cluster", "namespace", "job", "instance", "__address__"}

// podLabels are the labels Knative puts on the pods of service s's first
// revision: the template's own, plus the service, configuration and
// revision keys (Knative's constants, so a rename upstream fails here).
func podLabels(s servingv1.Service) labels.Set {
	out := labels.Set{}
	maps.Copy(out, s.Spec.Template.Labels)
	out[serving.ServiceLabelKey] = s.Name
	out[serving.ConfigurationLabelKey] = s.Name
	out[serving.RevisionLabelKey] = s.Name + "-00001"
	return out
}

// userPort is the user container's port as Knative's revision reconciler
// works it out (getUserPort): the first declared containerPort, else 8080.
// Knative always names it user-port.
func userPort(s servingv1.Service) int32 {
	if ps := s.Spec.Template.Spec.Containers[0].Ports; len(ps) > 0 && ps[0].ContainerPort != 0 {
		return ps[0].ContainerPort
	}
	return servingv1.DefaultUserPort
}

// TestPodMonitoringScrapesEveryFunction: the one PodMonitoring selects the
// pods of every Knative service in services/ (cleanup, notify and
// billingschedule included; a new service is covered by the selector or
// fails here) and no other pod, scrapes GET /metrics on the port the user
// container listens on (where the entry point serves it), and the
// NetworkPolicy lets the Managed Prometheus collector reach that port on
// the same pods.
func TestPodMonitoringScrapesEveryFunction(t *testing.T) {
	m := load(t)
	if len(m.podMonitorings) != 1 {
		t.Fatalf("%d PodMonitorings, want 1 (monitoring/podmonitoring.yaml)", len(m.podMonitorings))
	}
	pm := m.podMonitorings[0]
	if pm.Namespace != namespace {
		t.Errorf("PodMonitoring %s in namespace %q, want %q (a PodMonitoring only selects pods of its own namespace)", pm.Name, pm.Namespace, namespace)
	}
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatalf("PodMonitoring selector: %v", err)
	}
	if sel.Empty() || sel.Matches(labels.Set{"app": "sql-relay"}) {
		t.Errorf("PodMonitoring selector %q also selects pods that are no Knative service's", sel)
	}

	collector := collectorPolicy(t, m.networkPolicies)
	if collector == nil {
		t.Fatal("no NetworkPolicy lets gmp-system's collector in")
	}
	allowed, err := metav1.LabelSelectorAsSelector(&collector.Spec.PodSelector)
	if err != nil {
		t.Fatalf("NetworkPolicy %s podSelector: %v", collector.Name, err)
	}

	if len(pm.Spec.Endpoints) != 1 {
		t.Fatalf("PodMonitoring has %d endpoints, want 1", len(pm.Spec.Endpoints))
	}
	ep := pm.Spec.Endpoints[0]
	if ep.Path != "/metrics" {
		t.Errorf("endpoint path = %q, want /metrics", ep.Path)
	}
	if ep.Scheme != "http" {
		t.Errorf("endpoint scheme = %q, want http (the pod's own port has no TLS; TLS ends at the load balancer)", ep.Scheme)
	}
	interval, err1 := time.ParseDuration(ep.Interval)
	timeout, err2 := time.ParseDuration(ep.Timeout)
	if err1 != nil || err2 != nil || timeout <= 0 || timeout >= interval || interval > time.Minute {
		t.Errorf("interval %q, timeout %q: want a timeout under an interval of at most 1m", ep.Interval, ep.Timeout)
	}

	if len(m.ksvcs) < 20 {
		t.Fatalf("only %d Knative services loaded", len(m.ksvcs))
	}
	for _, name := range slices.Sorted(maps.Keys(m.ksvcs)) {
		s := m.ksvcs[name]
		pod := podLabels(s)
		if !sel.Matches(pod) {
			t.Errorf("%s: PodMonitoring selector %q does not select its pods %v", name, sel, pod)
		}
		if !allowed.Matches(pod) {
			t.Errorf("%s: NetworkPolicy %s does not let the collector reach its pods", name, collector.Name)
		}
		port := userPort(s)
		switch ep.Port.Type {
		case intstr.String:
			if ep.Port.StrVal != servingv1.UserPortName {
				t.Errorf("endpoint port %q: Knative names the user container's port %q", ep.Port.StrVal, servingv1.UserPortName)
			}
		case intstr.Int:
			if ep.Port.IntVal != port {
				t.Errorf("%s: endpoint port %d, its user container listens on %d", name, ep.Port.IntVal, port)
			}
		}
		if !policyAllowsPort(collector, port) {
			t.Errorf("%s: NetworkPolicy %s does not allow port %d, where it serves /metrics", name, collector.Name, port)
		}
		for _, e := range s.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "PORT" {
				t.Errorf("%s sets PORT: Knative sets it to the user port the PodMonitoring scrapes", name)
			}
		}
	}

	for _, l := range pm.Spec.TargetLabels.FromPod {
		if slices.Contains(gmpReservedLabels, l.To) {
			t.Errorf("target label %s -> %s takes a label Managed Prometheus reserves", l.From, l.To)
		}
		if l.From != serving.ServiceLabelKey {
			t.Errorf("target label from %q: only %s is on every scraped pod", l.From, serving.ServiceLabelKey)
		}
	}
}

// collectorPolicy is the NetworkPolicy whose one rule admits the Managed
// Prometheus collector.
func collectorPolicy(t *testing.T, nps []networkingv1.NetworkPolicy) *networkingv1.NetworkPolicy {
	t.Helper()
	for i, np := range nps {
		for _, rule := range np.Spec.Ingress {
			for _, p := range peers(t, rule) {
				if p == (peer{"gmp-system", "app.kubernetes.io/name=collector"}) {
					return &nps[i]
				}
			}
		}
	}
	return nil
}

func policyAllowsPort(np *networkingv1.NetworkPolicy, port int32) bool {
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.Type == intstr.Int && p.Port.IntVal == port {
				return true
			}
		}
	}
	return false
}
