// Package epoll is an epoll instance that a goroutine waits on through the Go
// runtime's netpoller, for readers that serve many sockets from one goroutine
// (engineio's epoll reader, herald-bench's epoll client).
//
// Waiting in a blocking epoll_wait would hold a thread in a system call, and the
// runtime's monitor then wakes every 20 µs to watch it (herald-bench measured twice
// the context switches that way). Instead the instance's descriptor is non-blocking
// and registered with the netpoller like a socket: Wait parks the goroutine until the
// instance has events and takes them with a non-blocking epoll_wait.
package epoll
