package jsonstrict

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Options sets the rules of a walk.
type Options struct {
	// MaxDepth bounds nesting; a value deeper than this is refused with
	// TooDeep.
	MaxDepth int
	TooDeep  error
	// Fold maps a key to the form in which two keys are the same; nil
	// compares keys exactly.
	Fold func(string) string
	// Duplicate makes the error for key repeating prev (its first
	// spelling) in the object at path; nil reports `duplicate JSON key`.
	Duplicate func(path Path, prev, key string) error
	// Key, if set, is called for each key after the duplicate check, with
	// the path of the object holding it.
	Key func(path Path, key string) error
}

// Walk reads one JSON value from dec and checks it under o. It does not
// look past the value; callers that refuse trailing data check for it.
func Walk(dec *json.Decoder, o Options) error {
	w := walker{dec: dec, o: o}
	return w.value(0)
}

type walker struct {
	dec  *json.Decoder
	o    Options
	path Path
}

func (w *walker) value(depth int) error {
	if depth > w.o.MaxDepth {
		return w.o.TooDeep
	}
	tok, err := w.dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]string{}
		for w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			k, ok := kt.(string)
			if !ok {
				return errors.New("invalid JSON: object key is not a string")
			}
			fk := k
			if w.o.Fold != nil {
				fk = w.o.Fold(k)
			}
			if prev, dup := seen[fk]; dup {
				if w.o.Duplicate != nil {
					return w.o.Duplicate(w.path, prev, k)
				}
				return fmt.Errorf("duplicate JSON key %q", k)
			}
			seen[fk] = k
			if w.o.Key != nil {
				if err := w.o.Key(w.path, k); err != nil {
					return err
				}
			}
			w.path = append(w.path, Step{Key: k})
			err = w.value(depth + 1)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	case '[':
		for i := 0; w.dec.More(); i++ {
			w.path = append(w.path, Step{Index: i, IsIndex: true})
			err := w.value(depth + 1)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("invalid JSON: unexpected %q", d)
	}
	if _, err := w.dec.Token(); err != nil { // closing delimiter
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}
