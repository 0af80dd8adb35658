package terraform

// The connection budgets: what every function may open at once, with every
// Knative service at its max-scale, against what Cloud SQL and Memorystore
// accept. The numbers are read from where they are set (the manifests under
// ../knative/services, the migrator's source, this module); only the
// reserve below is written here.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"sigs.k8s.io/yaml"
)

// The reserve kept free of the functions' pools, beside
// superuser_reserved_connections (read from the flags, PostgreSQL's
// default 3 when unset).
const (
	// cloudSQLOwnConnections: Cloud SQL's own logins (cloudsqladmin, its
	// monitoring and backup agents). Cloud SQL publishes no number; 10 is a
	// margin, not a measurement.
	cloudSQLOwnConnections = 10
	// operatorConnections: people (psql, Cloud SQL Studio), a second
	// migration started by mistake, and the Health function's /ready
	// probes, which open a connection and hang up at the password prompt
	// (one per uptime check in flight).
	operatorConnections = 15
	// redisReserve: redis-cli sessions and Health's /ready probes of Redis.
	redisReserve = 20
	// postgresSuperuserReservedDefault is PostgreSQL's default
	// superuser_reserved_connections.
	postgresSuperuserReservedDefault = 3
)

// service is what the budget reads of one Knative service.
type service struct {
	name     string
	maxScale int
	env      map[string]string
}

// knativeServices reads every Knative service under ../knative/services.
func knativeServices(t *testing.T) []service {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "knative", "services", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Knative services under ../knative/services (%v)", err)
	}
	var out []service
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
					Spec struct {
						Containers []struct {
							Env []struct {
								Name  string `json:"name"`
								Value string `json:"value"`
							} `json:"env"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if doc.Kind != "Service" || len(doc.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s: want one Knative Service with one container", p)
		}
		s := service{name: doc.Metadata.Name, env: map[string]string{}}
		raw, ok := doc.Spec.Template.Metadata.Annotations["autoscaling.knative.dev/max-scale"]
		if s.maxScale, err = strconv.Atoi(raw); !ok || err != nil || s.maxScale < 1 {
			// Unbounded, a service's pools would have no sum at all.
			t.Errorf("%s: max-scale %q, want a whole number of at least 1", s.name, raw)
		}
		for _, e := range doc.Spec.Template.Spec.Containers[0].Env {
			s.env[e.Name] = e.Value
		}
		out = append(out, s)
	}
	return out
}

// poolSize is a service's bound of a pool (env key) when it logs in to that
// backend (credential env key), and 0 when it does not: a service that
// logs in without a bound fails the test.
func poolSize(t *testing.T, s service, credential, key string) int {
	t.Helper()
	v, set := s.env[key]
	if _, logsIn := s.env[credential]; !logsIn {
		if set {
			t.Errorf("%s: %s = %q without %s: a bound on a pool it never opens", s.name, key, v, credential)
		}
		return 0
	}
	n, err := strconv.Atoi(v)
	if !set || err != nil || n < 1 {
		t.Errorf("%s logs in (%s) but %s = %q: every such service must bound its pool", s.name, credential, key, v)
		return 0
	}
	return n
}

// migratorConns reads the migrator's pool bound, the constant maxConns of
// functions/cmd/migrate.
func migratorConns(t *testing.T) int {
	t.Helper()
	path := filepath.Join("..", "functions", "cmd", "migrate", "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("reading the migrator's pool: %v", err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name != "maxConns" || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
					if v, err := strconv.Atoi(lit.Value); err == nil && v > 0 {
						return v
					}
				}
				t.Fatalf("%s: maxConns is not a positive integer literal", path)
			}
		}
	}
	t.Fatalf("%s declares no const maxConns: the budget cannot count the migrator", path)
	return 0
}

// databaseFlag is the value of one of Cloud SQL's database flags as set in
// sql.tf (false when unset).
func databaseFlag(t *testing.T, m *module, name string) (int, bool) {
	t.Helper()
	settings := nested(t, "google_sql_database_instance.main", m.only(t, m.resource(t, "google_sql_database_instance", "main")), "settings")
	flags, ok := settings["database_flags"]
	if !ok {
		return 0, false
	}
	for it := flags.ElementIterator(); it.Next(); {
		_, f := it.Element()
		if f.GetAttr("name").AsString() != name {
			continue
		}
		v, err := strconv.Atoi(f.GetAttr("value").AsString())
		if err != nil {
			t.Fatalf("database flag %s = %s: %v", name, show(f.GetAttr("value")), err)
		}
		return v, true
	}
	return 0, false
}

// TestConnectionBudgets: with every Knative service at its max-scale and
// every pool full, the migrator running and the reserve kept, PostgreSQL
// stays below Cloud SQL's max_connections and Redis below Memorystore's
// client limit. A service that logs in to a backend without bounding its
// pool fails, as does one without a max-scale.
func TestConnectionBudgets(t *testing.T) {
	m := loadModule(t)
	maxConnections, ok := databaseFlag(t, m, "max_connections")
	if !ok {
		t.Fatal("sql.tf sets no max_connections flag: the budget would depend on the tier's default")
	}
	if want := m.vars["sql_max_connections"]; !want.RawEquals(cty.NumberIntVal(int64(maxConnections))) {
		t.Errorf("max_connections flag %d, var.sql_max_connections %s", maxConnections, show(want))
	}
	superuser, ok := databaseFlag(t, m, "superuser_reserved_connections")
	if !ok {
		superuser = postgresSuperuserReservedDefault
	}

	redisAttrs := m.only(t, m.resource(t, "google_redis_instance", "main"))
	if v := str(t, "google_redis_instance.main", redisAttrs, "redis_version"); !strings.HasPrefix(v, "REDIS_7") {
		t.Errorf("redis_version %s: with in-transit encryption, Redis 6.x and earlier have lower, per-tier client limits than local.redis_max_clients", v)
	}
	redisMax, ok := m.locals["redis_max_clients"]
	if !ok {
		t.Fatal("redis.tf has no local.redis_max_clients")
	}
	redisLimit, _ := redisMax.AsBigFloat().Int64()

	var pg, rd int
	var pgTerms, rdTerms []string
	for _, s := range knativeServices(t) {
		if n := poolSize(t, s, "DATABASE_PASSWORD", "DATABASE_MAX_CONNS"); n > 0 {
			pg += n * s.maxScale
			pgTerms = append(pgTerms, s.name+" "+strconv.Itoa(n)+"×"+strconv.Itoa(s.maxScale))
		}
		if n := poolSize(t, s, "REDIS_PASSWORD", "REDIS_POOL_SIZE"); n > 0 {
			rd += n * s.maxScale
			rdTerms = append(rdTerms, s.name+" "+strconv.Itoa(n)+"×"+strconv.Itoa(s.maxScale))
		}
	}
	if pg == 0 || rd == 0 {
		t.Fatalf("no service counted (PostgreSQL %d, Redis %d): the test no longer reads the manifests right", pg, rd)
	}
	migrator := migratorConns(t)
	reserve := superuser + cloudSQLOwnConnections + operatorConnections
	total := pg + migrator + reserve
	t.Logf("PostgreSQL: functions %d (%s) + migrator %d + reserve %d (superuser %d, Cloud SQL %d, operators %d) = %d of max_connections %d",
		pg, strings.Join(pgTerms, ", "), migrator, reserve, superuser, cloudSQLOwnConnections, operatorConnections, total, maxConnections)
	if total >= maxConnections {
		t.Errorf("PostgreSQL budget: %d connections at max-scale (functions %d, migrator %d, reserve %d), not below max_connections %d: "+
			"lower a DATABASE_MAX_CONNS or a max-scale, or raise var.sql_max_connections (and the tier)", total, pg, migrator, reserve, maxConnections)
	}
	t.Logf("Redis: functions %d (%s) + reserve %d = %d of %d clients", rd, strings.Join(rdTerms, ", "), redisReserve, rd+redisReserve, redisLimit)
	if int64(rd+redisReserve) >= redisLimit {
		t.Errorf("Redis budget: %d clients at max-scale (functions %d, reserve %d), not below Memorystore's %d: lower a REDIS_POOL_SIZE or a max-scale",
			rd+redisReserve, rd, redisReserve, redisLimit)
	}
}
