package ranking

import (
	"fmt"
	"os"

	"gonum.org/v1/plot/vg/vgimg"
)

func saveCanvas(path string, img *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ranking: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("ranking: writing %s: %w", path, err)
	}
	return f.Close()
}
