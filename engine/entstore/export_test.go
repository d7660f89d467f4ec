package entstore

// QueuedWrites is how many writes wait for a writer loop: tests wait for
// it to know that writes will share a group.
func (s *Store) QueuedWrites() int { return len(s.queue) }
