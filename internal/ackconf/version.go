package ackconf

import (
	"fmt"
	"strconv"
	"strings"
)

// ImageVersion is the numeric part of an ACK image tag such as
// v0.15.1.11-7e95fe23-aliyun or v1.16.7: any number of dot-separated numbers
// after an optional "v". The suffix (commit, "aliyun") does not order.
type ImageVersion struct {
	Parts []int
	Raw   string
}

// ParseImageVersion parses an image tag.
func ParseImageVersion(tag string) (ImageVersion, error) {
	raw := tag
	t := strings.TrimPrefix(strings.TrimSpace(tag), "v")
	if i := strings.IndexAny(t, "-+_"); i >= 0 {
		t = t[:i]
	}
	if t == "" {
		return ImageVersion{}, fmt.Errorf("image tag %q has no version", raw)
	}
	var parts []int
	for _, p := range strings.Split(t, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return ImageVersion{}, fmt.Errorf("image tag %q is not a dotted version", raw)
		}
		parts = append(parts, n)
	}
	return ImageVersion{Parts: parts, Raw: raw}, nil
}

// MustImageVersion is for constants in code; it panics on a bad literal.
func MustImageVersion(tag string) ImageVersion {
	v, err := ParseImageVersion(tag)
	if err != nil {
		panic(err)
	}
	return v
}

// Compare returns -1, 0 or 1. Missing trailing parts count as zero, so
// v1.2 == v1.2.0.
func (v ImageVersion) Compare(o ImageVersion) int {
	n := max(len(v.Parts), len(o.Parts))
	for i := 0; i < n; i++ {
		a, b := at(v.Parts, i), at(o.Parts, i)
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
	}
	return 0
}

// Less reports v < o.
func (v ImageVersion) Less(o ImageVersion) bool { return v.Compare(o) < 0 }

func at(p []int, i int) int {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// ImageTag returns the tag of an image reference ("" when it has none or is
// pinned only by digest).
func ImageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon > slash {
		return image[colon+1:]
	}
	return ""
}
