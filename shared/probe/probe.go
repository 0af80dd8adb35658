// Package probe tells whether Redis and PostgreSQL answer, at the protocol
// level and without their credentials, for the Health function's /ready
// (issue 16, finding 2): an instance that can probe a backend need not hold
// the password that would let it read or change the data.
//
// A probe proves more than an open port: the server must answer its own
// protocol over the same TLS, verified against the same CA, as the functions
// that log in. Redis must answer PING (with PONG, or with NOAUTH, which it
// sends only once it is up and serving clients; a Redis still loading its
// data answers LOADING and is not ready). PostgreSQL must answer a startup
// message with an authentication request (it asks for the password only
// once it accepts connections; starting up, shutting down or out of
// connection slots it answers an error instead). The probe then hangs up
// before authenticating, which PostgreSQL does not log as a failed login (a
// client closing at the password prompt is what psql does). What a probe
// cannot see is a wrong password or a missing grant: those stop the
// functions that use them at start, where the deploy notices.
package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/config"
)

// Ping is one probe: nil when the backend answers.
type Ping func(ctx context.Context) error

// Redis returns the probe of the Redis c names: every address of its URL
// (a cluster's seed nodes too), over TLS verified against c.CAPEM for a
// rediss:// URL. The password is never sent.
func Redis(c config.Redis) (Ping, error) {
	var addrs []string
	var tc *tls.Config
	if c.Cluster {
		opts, err := redis.ParseClusterURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
		}
		addrs, tc = opts.Addrs, opts.TLSConfig
	} else {
		opts, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
		}
		addrs, tc = []string{opts.Addr}, opts.TLSConfig
	}
	if c.CAPEM != "" {
		if tc == nil {
			return nil, errors.New("REDIS_CA_PEM is set but REDIS_URL is not rediss://")
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, errors.New("REDIS_CA_PEM holds no PEM certificate")
		}
		tc.RootCAs = roots
	}
	return func(ctx context.Context) error {
		// REDIS_TIMEOUT bounds a probe as it bounds every Redis call, so a
		// frozen Redis is named as fast as the functions give up on it.
		if c.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.Timeout)
			defer cancel()
		}
		for _, addr := range addrs {
			if err := pingRedis(ctx, addr, tc); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func pingRedis(ctx context.Context, addr string, tc *tls.Config) error {
	conn, err := dial(ctx, "tcp", addr, tc)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return fmt.Errorf("redis %s: %w", addr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("redis %s: %w", addr, err)
	}
	line = strings.TrimSpace(line)
	switch {
	case line == "+PONG", strings.HasPrefix(line, "-NOAUTH"):
		return nil
	default:
		return fmt.Errorf("redis %s answered %q", addr, line)
	}
}

// Postgres returns the probe of the PostgreSQL c names: its URL's host,
// port, user and database, and its TLS as the functions connect
// (database.WithServerCA: c.CAPEM and c.ServerName); the password is never
// sent.
func Postgres(c config.Database) (Ping, error) {
	pc, err := pgconn.ParseConfig(c.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	tc := pc.TLSConfig
	plainToo := tc == nil
	for _, f := range pc.Fallbacks {
		plainToo = plainToo || f.TLSConfig == nil
	}
	if c.CAPEM != "" {
		if tc == nil || tc.InsecureSkipVerify || len(pc.Fallbacks) > 0 {
			return nil, errors.New("DATABASE_CA_PEM is set but the database URL's sslmode is not verify-full")
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, errors.New("DATABASE_CA_PEM holds no PEM certificate")
		}
		tc.RootCAs = roots
		if c.ServerName != "" {
			tc.ServerName = c.ServerName
		}
	}
	network, addr := "tcp", net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	if strings.HasPrefix(pc.Host, "/") {
		network, addr = "unix", pc.Host+"/.s.PGSQL."+strconv.Itoa(int(pc.Port))
	}
	return func(ctx context.Context) error {
		return pingPostgres(ctx, network, addr, tc, plainToo, pc.User, pc.Database)
	}, nil
}

// The protocol's codes (PostgreSQL's "Message Formats").
const (
	sslRequestCode  = 80877103
	protocolVersion = 3 << 16
)

func pingPostgres(ctx context.Context, network, addr string, tc *tls.Config, plainToo bool, user, database string) error {
	conn, err := dial(ctx, network, addr, nil)
	if err != nil {
		return err
	}
	defer func() { conn.Close() }()
	if tc != nil {
		var req [8]byte
		binary.BigEndian.PutUint32(req[0:], 8)
		binary.BigEndian.PutUint32(req[4:], sslRequestCode)
		var answer [1]byte
		if _, err := conn.Write(req[:]); err != nil {
			return fmt.Errorf("postgres %s: %w", addr, err)
		}
		if _, err := io.ReadFull(conn, answer[:]); err != nil {
			return fmt.Errorf("postgres %s: %w", addr, err)
		}
		switch {
		case answer[0] == 'S':
			tlsConn := tls.Client(conn, tc)
			if err := tlsConn.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("postgres %s: TLS: %w", addr, err)
			}
			conn = tlsConn
		case answer[0] == 'N' && plainToo:
		default:
			return fmt.Errorf("postgres %s refused TLS", addr)
		}
	}
	startup := binary.BigEndian.AppendUint32(make([]byte, 4), protocolVersion)
	for _, kv := range [][2]string{{"user", user}, {"database", database}} {
		startup = append(append(append(append(startup, kv[0]...), 0), kv[1]...), 0)
	}
	startup = append(startup, 0)
	binary.BigEndian.PutUint32(startup, uint32(len(startup)))
	if _, err := conn.Write(startup); err != nil {
		return fmt.Errorf("postgres %s: %w", addr, err)
	}
	var head [5]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return fmt.Errorf("postgres %s: %w", addr, err)
	}
	switch head[0] {
	case 'R':
		// An authentication request (or, under trust, AuthenticationOk):
		// the server accepts connections. Hang up before any password:
		// at a password prompt PostgreSQL takes that silently (as psql
		// does it), where a Terminate message would be logged as a
		// protocol violation; once logged in, Terminate is the polite way.
		var code [4]byte
		if _, err := io.ReadFull(conn, code[:]); err == nil && binary.BigEndian.Uint32(code[:]) == 0 {
			conn.Write([]byte{'X', 0, 0, 0, 4}) //nolint:errcheck // closing anyway
		}
		return nil
	case 'E':
		n := int(binary.BigEndian.Uint32(head[1:])) - 4
		if n < 0 || n > 8192 {
			return fmt.Errorf("postgres %s: malformed error", addr)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(conn, body); err != nil {
			return fmt.Errorf("postgres %s: %w", addr, err)
		}
		return fmt.Errorf("postgres %s answered %s", addr, errorFields(body))
	default:
		return fmt.Errorf("postgres %s answered message %q", addr, head[0])
	}
}

// errorFields renders an ErrorResponse's code and message.
func errorFields(body []byte) string {
	var code, msg string
	for _, f := range strings.Split(string(body), "\x00") {
		if f == "" {
			continue
		}
		switch f[0] {
		case 'C':
			code = f[1:]
		case 'M':
			msg = f[1:]
		}
	}
	return code + " " + msg
}

// dial connects within ctx and bounds the whole exchange by ctx's deadline,
// so a frozen server fails the probe instead of holding it.
func dial(ctx context.Context, network, addr string, tc *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl) //nolint:errcheck // a new connection
	} else {
		conn.SetDeadline(time.Now().Add(defaultTimeout)) //nolint:errcheck // a new connection
	}
	if tc != nil {
		tlsConn := tls.Client(conn, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: TLS: %w", addr, err)
		}
		return tlsConn, nil
	}
	return conn, nil
}

// defaultTimeout bounds a probe whose context has no deadline.
const defaultTimeout = 5 * time.Second
