// Package cameraipc is the generated Idol client, server interface and
// dispatcher of the camera tenant's Camera interface (idl/camera.idol, named
// types in idl/types.toml). camera_idol.go is generated: edit the .idol file
// and run go generate.
//
// It holds no camera logic: a camera server implements CameraServer, and
// clients call it with a CameraClient over any ipc.Transport.
package cameraipc

//go:generate go run spacenet/cmd/spacenet idl gen --go --package cameraipc --types ../../idl/types.toml ../../idl/camera.idol -o camera_idol.go
