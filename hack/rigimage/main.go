// Command rigimage writes a container image archive (the docker-archive
// format that `ctr images import` reads) from a directory, so the rig's nodes
// run images built on this machine and never pull from a registry.
//
//	rigimage -dir ROOTFS -ref NAME:TAG -out FILE.tar [-env K=V]... [-entrypoint ARG]... [-cmd ARG]...
//
// File owners become root; modes, symlinks and hard links are kept.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		dir   = flag.String("dir", "", "root filesystem of the image")
		ref   = flag.String("ref", "", "image reference, NAME:TAG")
		out   = flag.String("out", "", "archive to write")
		env   list
		entry list
		cmd   list
	)
	flag.Var(&env, "env", "K=V in the image config (repeatable)")
	flag.Var(&entry, "entrypoint", "one word of the entrypoint (repeatable)")
	flag.Var(&cmd, "cmd", "one word of the default command (repeatable)")
	flag.Parse()
	if *dir == "" || *ref == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: rigimage -dir ROOTFS -ref NAME:TAG -out FILE.tar [-env K=V]... [-entrypoint ARG]... [-cmd ARG]...")
		os.Exit(2)
	}
	if err := write(*dir, *ref, *out, env, entry, cmd); err != nil {
		fmt.Fprintln(os.Stderr, "rigimage:", err)
		os.Exit(1)
	}
}

func write(dir, ref, out string, env, entry, cmd []string) error {
	var layer bytes.Buffer
	if err := tarDir(dir, &layer); err != nil {
		return err
	}
	sum := sha256.Sum256(layer.Bytes())
	diffID := "sha256:" + hex.EncodeToString(sum[:])
	created := time.Unix(0, 0).UTC()
	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created,
		"config":       map[string]any{"Env": env, "Entrypoint": entry, "Cmd": cmd},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	}
	cb, err := json.Marshal(config)
	if err != nil {
		return err
	}
	csum := sha256.Sum256(cb)
	configName := hex.EncodeToString(csum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{ref}, "Layers": []string{"layer.tar"},
	}})
	if err != nil {
		return err
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		b    []byte
	}{{configName, cb}, {"layer.tar", layer.Bytes()}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.b)), ModTime: created, Typeflag: tar.TypeReg}); err != nil {
			_ = f.Close()
			return err
		}
		if _, err := tw.Write(e.b); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// tarDir writes dir as one layer, in a stable order.
func tarDir(dir string, w io.Writer) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	links := map[uint64]string{} // inode -> first name, for hard links
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		target := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		h.ModTime = time.Unix(0, 0)
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, seen := links[st.Ino]; seen {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				links[st.Ino] = h.Name
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			_ = f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
