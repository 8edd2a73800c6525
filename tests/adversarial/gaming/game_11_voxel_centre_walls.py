# class: voxel sampling (own)
# what: an attacker who knows the reference's box (so its 64^3 grid) puts thin walls through
#       every row of voxel centres: every voxel is filled with 2% of the volume (iou was 1.0)
# reference: ref_plate
# honest: honest_plate_box
# expect: ok
import cadquery as cq
n, pad = 64, 2
lo_y, dy = -0.5, 1.0 / n
t = 0.02 * dy
walls = [cq.Solid.makeBox(1.5, t, 0.2, pnt=cq.Vector(-0.75, lo_y + (j + 0.5) * dy - t / 2, -0.1))
         for j in range(n)]
solid = cq.Compound.makeCompound(walls)
