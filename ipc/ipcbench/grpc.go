package ipcbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// RawCodec is a gRPC codec passing *[]byte through untouched: a baseline
// using it pays for gRPC's transport (and TLS), not for protobuf.
type RawCodec struct{}

// Marshal returns the bytes v (a *[]byte) points to.
func (RawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

// Unmarshal copies data into v, a *[]byte.
func (RawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}

// Name is the codec's name.
func (RawCodec) Name() string { return "spacenet-raw" }

// StatusMethod is the full name of the gRPC Camera.Status that
// RegisterStatus serves.
const StatusMethod = "/spacenet.bench.Camera/Status"

// RegisterStatus registers on s (whose codec must be RawCodec) a
// hand-written Camera.Status service, no protoc: each reply is ReplyLen
// bytes and starts with the request's first 8 bytes.
func RegisterStatus(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "spacenet.bench.Camera",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Status",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in []byte
				if err := dec(&in); err != nil {
					return nil, err
				}
				out := make([]byte, ReplyLen)
				copy(out[:8], in)
				return &out, nil
			},
		}},
	}, struct{}{})
}

// serveGRPC serves Camera.Status twice, on grpc.sock in plaintext and on
// grpc-tls.sock with mutual TLS (the certificates in dir): each reply is
// the IPC reply's size and starts with the request's first 8 bytes.
func serveGRPC(ctx context.Context, dir string, ready func() error) error {
	tlsCfg, err := serverTLS(dir)
	if err != nil {
		return err
	}
	plain := grpc.NewServer(grpc.ForceServerCodec(RawCodec{}))
	secure := grpc.NewServer(grpc.ForceServerCodec(RawCodec{}), grpc.Creds(credentials.NewTLS(tlsCfg)))
	RegisterStatus(plain)
	RegisterStatus(secure)
	done := make(chan error, 2)
	for _, s := range []struct {
		srv  *grpc.Server
		name string
	}{{plain, grpcSocket}, {secure, grpcTLSSocket}} {
		ln, err := net.Listen("unix", filepath.Join(dir, s.name))
		if err != nil {
			plain.Stop()
			secure.Stop()
			return err
		}
		go func() { done <- s.srv.Serve(ln) }()
	}
	if err := ready(); err != nil {
		plain.Stop()
		secure.Stop()
		return err
	}
	<-ctx.Done()
	plain.Stop()
	secure.Stop()
	return errors.Join(<-done, <-done)
}

type grpcConn struct {
	conn *grpc.ClientConn
}

func dialGRPC(dir string, secure bool) (conn, error) {
	creds := insecure.NewCredentials()
	name := grpcSocket
	if secure {
		cfg, err := clientTLS(dir)
		if err != nil {
			return nil, err
		}
		creds, name = credentials.NewTLS(cfg), grpcTLSSocket
	}
	c, err := grpc.NewClient("unix://"+filepath.Join(dir, name),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(RawCodec{})))
	if err != nil {
		return nil, err
	}
	return &grpcConn{conn: c}, nil
}

func (g *grpcConn) caller(int) func(uint64) error {
	req := make([]byte, RequestLen)
	var resp []byte
	return func(k uint64) error {
		binary.BigEndian.PutUint64(req, k)
		if err := g.conn.Invoke(context.Background(), StatusMethod, &req, &resp); err != nil {
			return err
		}
		if len(resp) != ReplyLen || binary.BigEndian.Uint64(resp) != k {
			return fmt.Errorf("response to call %d: %d bytes, %x", k, len(resp), resp[:min(8, len(resp))])
		}
		return nil
	}
}
func (g *grpcConn) parallel() bool { return true }
func (g *grpcConn) close()         { g.conn.Close() }

func serverTLS(dir string) (*tls.Config, error) {
	cert, pool, err := loadCerts(dir, "server")
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}, nil
}

func clientTLS(dir string) (*tls.Config, error) {
	cert, pool, err := loadCerts(dir, "client")
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool,
		ServerName: serverName, MinVersion: tls.VersionTLS13}, nil
}

// loadCerts reads dir/NAME.pem and dir/NAME-key.pem, and the CA of
// dir/ca.pem as a pool.
func loadCerts(dir, name string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		return cert, nil, fmt.Errorf("ipcbench: %s certificate: %w", name, err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return cert, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return cert, nil, errors.New("ipcbench: ca.pem: no certificate")
	}
	return cert, pool, nil
}
