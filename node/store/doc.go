// Package store is a node's durable state: one bbolt file in the data
// directory, opened exclusively, with every write committed and fsynced
// before it returns so an acknowledged write survives kill -9. Higher layers
// keep their own buckets; this package only adds clear errors and the few
// records every node needs (its key).
package store
