package index

import "fmt"

// writeExtras writes the outputs derived from the patched index after
// repodata.json: current_repodata.json, run_exports.json and the shards,
// each through writeOutput (atomic, only when changed). signed is the
// repodata.json just written.
func (s *subdirState) writeExtras(patched *Repodata, signed []byte, opts Options, res *Result) error {
	s.patched = patched
	if opts.NoCurrentRepodata {
		for _, stale := range []string{CurrentRepodataFile, CurrentRepodataFile + ZstSuffix} {
			if err := s.deleteStale(stale); err != nil {
				return err
			}
		}
	} else if err := s.writeCurrent(patched, opts, res); err != nil {
		return err
	}
	if opts.RunExports {
		doc, err := s.runExportsDocument()
		if err != nil {
			return fmt.Errorf("%s: %w", RunExportsFile, err)
		}
		if _, err := s.writeOutput(RunExportsFile, opts.Layout.Marshal(doc), opts.NoZst); err != nil {
			return err
		}
	}
	if opts.Shards {
		if err := s.writeShards(signed); err != nil {
			return err
		}
	}
	return nil
}

// writeCurrent writes current_repodata.json (and .zst), signed like
// repodata.json when there are signers.
func (s *subdirState) writeCurrent(patched *Repodata, opts Options, res *Result) error {
	out, err := CurrentRepodata(patched).Marshal(opts.Layout)
	if err != nil {
		return fmt.Errorf("%s: %w", CurrentRepodataFile, err)
	}
	if len(opts.Signers) > 0 {
		prev, err := s.previous(CurrentRepodataFile)
		if err != nil {
			return err
		}
		out, _, err = signRepodata(out, prev, s.localPath(CurrentRepodataFile), opts.Signers, opts.Layout)
		if err != nil {
			return fmt.Errorf("signing %s: %w", CurrentRepodataFile, err)
		}
	}
	_, err = s.writeOutput(CurrentRepodataFile, out, opts.NoZst)
	return err
}

// indexed calls fn for each package file of the subdir that was indexed
// (read or taken from the cache without error).
func (s *subdirState) indexed(fn func(f *pkgFile)) {
	for _, f := range s.files {
		if f.err == nil {
			fn(f)
		}
	}
}
