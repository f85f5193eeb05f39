package quickstart

// SetLookPath replaces how the signing policy steps find their tools, and
// returns a function that restores it.
func SetLookPath(f func(string) (string, error)) (restore func()) {
	old := lookPath
	lookPath = f
	return func() { lookPath = old }
}
