package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
)

// errStoreDown is what memBucket returns while it is down.
var errStoreDown = errors.New("fake store: connection refused")

// memBucket is a Bucket in memory, with the If-None-Match semantics of the
// real one, that can be taken down and whose objects can be damaged.
type memBucket struct {
	name  string
	mu    sync.Mutex
	objs  map[string]memObject
	down  atomic.Bool
	stats atomic.Int64 // Stat calls
	puts  atomic.Int64 // PutIfAbsent calls

	// failPut and failDelete, when set, are asked before each write and
	// delete; an error they return fails it without changing anything
	// (a crash or an outage at that point).
	failPut    func(key string) error
	failDelete func(key string) error
	deletes    atomic.Int64
}

type memObject struct {
	data []byte
	meta map[string]string
}

func newMemBucket() *memBucket {
	return &memBucket{name: "s3://test-bucket/vol", objs: map[string]memObject{}}
}

func (b *memBucket) String() string { return b.name }

func (b *memBucket) PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker, size int64, meta map[string]string) error {
	b.puts.Add(1)
	if b.down.Load() {
		return errStoreDown
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	fail := b.failPut
	b.mu.Unlock()
	if fail != nil {
		if err := fail(key); err != nil {
			return err
		}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("fake store: body is %d bytes, size says %d", len(data), size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[key]; ok {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	b.objs[key] = memObject{data: data, meta: maps.Clone(meta)}
	return nil
}

func (b *memBucket) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if b.down.Load() {
		return nil, ObjectInfo{}, errStoreDown
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return nil, ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return io.NopCloser(bytes.NewReader(o.data)), ObjectInfo{Size: int64(len(o.data)), Meta: maps.Clone(o.meta)}, nil
}

func (b *memBucket) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	b.stats.Add(1)
	if b.down.Load() {
		return ObjectInfo{}, errStoreDown
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return ObjectInfo{Size: int64(len(o.data)), Meta: maps.Clone(o.meta)}, nil
}

func (b *memBucket) Delete(ctx context.Context, key string) error {
	if b.down.Load() {
		return errStoreDown
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failDelete != nil {
		if err := b.failDelete(key); err != nil {
			return err
		}
	}
	b.deletes.Add(1)
	delete(b.objs, key)
	return nil
}

// setFail sets the fault hooks (nil clears them).
func (b *memBucket) setFail(put, del func(key string) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failPut, b.failDelete = put, del
}

// put stores an object as is, for tests that prepare the archive.
func (b *memBucket) put(key string, data []byte, meta map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objs[key] = memObject{data: bytes.Clone(data), meta: maps.Clone(meta)}
}

// damage flips one byte of an object, keeping its metadata.
func (b *memBucket) damage(key string, at int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.objs[key]
	o.data = bytes.Clone(o.data)
	o.data[at] ^= 0xff
	b.objs[key] = o
}

func (b *memBucket) remove(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objs, key)
}

func (b *memBucket) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ks []string
	for k := range b.objs {
		ks = append(ks, k)
	}
	return ks
}
