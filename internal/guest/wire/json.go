package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// ParseJob parses the job file, checking its version.
func ParseJob(b []byte) (Job, error) {
	var j Job
	if err := strictUnmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("parse job: %w", err)
	}
	if j.Version != Version {
		return Job{}, fmt.Errorf("parse job: version %d, want %d (host and agent binaries differ)", j.Version, Version)
	}
	if j.Program == "" {
		return Job{}, fmt.Errorf("parse job: no program")
	}
	return j, nil
}
