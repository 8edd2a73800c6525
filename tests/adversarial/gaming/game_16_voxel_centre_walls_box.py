# class: voxel sampling (own)
# what: the walls of game_11 against the plain box they were built for: every voxel of the
#       64^3 grid filled with 2% of the volume (iou was 1.0)
# reference: ref_box
# honest: honest_box_off
# expect: ok
import cadquery as cq
n, pad = 64, 2
lo_y, dy = -0.5, 1.0 / n
t = 0.02 * dy
walls = [cq.Solid.makeBox(1.5, t, 0.2, pnt=cq.Vector(-0.75, lo_y + (j + 0.5) * dy - t / 2, -0.1))
         for j in range(n)]
solid = cq.Compound.makeCompound(walls)
