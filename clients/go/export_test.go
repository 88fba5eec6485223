package switchyard

// NewTestPublisher is a publisher without a connection, for tests of
// Envelope (filling and local validation) only.
func NewTestPublisher(o PublisherOptions) *Publisher { return &Publisher{opts: o} }
