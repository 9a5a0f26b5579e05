"""Masks -> closed outlines that separate inside from outside voxel centres strictly.

Every outline is built from the boundary between a foreground voxel and a background voxel of
one slice, so no outline passes through a voxel centre and every reader that samples voxel
centres (whatever it does with centres that lie on a contour) finds exactly the voxels of the
mask. Two shapes, both exact:

* :attr:`ContourShape.VOXEL_EDGE`: the staircase along voxel boundaries, collinear points
  merged; the area enclosed equals the voxels' area.
* :attr:`ContourShape.MIDPOINT`: the polygon through the midpoints between each inside centre and
  its outside neighbour (the 0.5 iso-line of marching squares): diagonal boundaries become
  straight lines, every centre stays at least 0.35 pixel from the path.

Connectivity rule: foreground voxels that touch only at a corner belong to one piece (8-connected
foreground); background voxels that touch the outside only at a corner form a hole (4-connected
background). Where two boundaries meet at one voxel corner, a voxel-edge outline cuts the corner
by :data:`CORNER_CUT` pixel into the background voxel it turns around, and a midpoint outline
passes half a pixel away from it, so outlines never touch each other or themselves: readers that
unite touching ``CLOSED_PLANAR`` contours (ours, PS3.3 C.8.8.6.3 leaves them undefined) and
readers that combine contours by exclusive or find the same voxels.

Outlines are traced for all slices of a mask at once: every boundary edge links to the next
one along the boundary (at a corner where two boundaries meet, the turn that keeps diagonal
foreground voxels together), and the cycles of that successor map are labelled and ordered by
pointer jumping, so the work is a few numpy passes over the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class ContourShape(str, Enum):
    """The path an outline takes between inside and outside voxel centres."""

    #: Through the midpoints between inside and outside neighbour centres (smooth diagonals).
    MIDPOINT = "midpoint"
    #: Along voxel edges (a staircase; encloses exactly the voxels' area).
    VOXEL_EDGE = "voxel-edge"

    def __str__(self) -> str:
        return self.value

    @property
    def description(self) -> str:
        """What the choice means, in one sentence."""
        if self is ContourShape.MIDPOINT:
            return "smooth: through the midpoints between inside and outside voxel centres (fewer points, straight diagonals)"
        return "voxel edges: a staircase along voxel boundaries (encloses exactly the voxels' area)"


#: Where two voxel-edge boundaries meet at one voxel corner, each is moved this far (pixels, along
#: both axes) into the background voxel it turns around, so that the outlines do not touch.
CORNER_CUT = 0.1

# Edge directions in pixel coordinates (x = column, y = row, y pointing down): +x, +y, -x, -y.
_DX = np.array([1, 0, -1, 0], dtype=np.int64)
_DY = np.array([0, 1, 0, -1], dtype=np.int64)


@dataclass(frozen=True)
class Loops:
    """Closed outlines of one mask: loop ``n`` is ``points[starts[n]:starts[n + 1]]``.

    Points are ``(x, y)`` = (column, row) on the grid (pixel centres at integers). The foreground
    lies to the right of the direction of travel with y pointing down: outer boundaries run
    clockwise on screen, holes the other way.
    """

    points: FloatArray
    starts: IntArray
    #: Slice index ``k`` of each loop on the grid.
    slices: IntArray
    #: Whether each loop bounds a hole (background inside it).
    holes: BoolArray
    #: Row of each loop's topmost boundary (y of the top edge, pixel-edge units): holes are
    #: bridged bottom-up by keyholes.
    tops: IntArray
    #: Column of the pixel below each hole's topmost-leftmost edge (a voxel column of the hole).
    columns: IntArray

    def __len__(self) -> int:
        return len(self.slices)

    def loop(self, index: int) -> FloatArray:
        return self.points[self.starts[index] : self.starts[index + 1]]

    @property
    def sizes(self) -> IntArray:
        return np.diff(self.starts)


def trace_loops(crop: BoolArray, offset: tuple[int, int, int] = (0, 0, 0), shape: ContourShape = ContourShape.MIDPOINT) -> Loops:
    """The closed outlines of every slice of a 3D mask.

    Parameters
    ----------
    crop
        ``(slices, rows, columns)`` mask, usually a :class:`~dicomlabelmap.model.masks.BoxMask` crop.
    offset
        Where ``crop[0, 0, 0]`` lies on the grid ``(k, row, column)``.
    shape
        The outline's path.
    """
    edges = _boundary_edges(crop)
    if not len(edges.start):
        empty = np.zeros(0, dtype=np.int64)
        return Loops(np.zeros((0, 2)), np.zeros(1, dtype=np.int64), empty, np.zeros(0, dtype=bool), empty, empty)
    successor, saddle = _successors(edges)
    label, rank = _cycles(successor)
    order = np.lexsort((rank, label))
    predecessor = np.empty_like(successor)
    predecessor[successor] = np.arange(len(successor))
    direction = edges.direction
    incoming = direction[predecessor]
    if shape is ContourShape.VOXEL_EDGE:
        keep = direction[order] != incoming[order]
        chosen = order[keep]
        x, y = edges.corner_x(chosen).astype(np.float64), edges.corner_y(chosen).astype(np.float64)
        cut = saddle[chosen] * CORNER_CUT
        x += cut * (_DX[direction[chosen]] - _DX[incoming[chosen]])
        y += cut * (_DY[direction[chosen]] - _DY[incoming[chosen]])
    else:
        # The step from the previous midpoint to this one, in half pixels: u(previous) + u(own).
        step_x, step_y = _DX[incoming] + _DX[direction], _DY[incoming] + _DY[direction]
        turns = (step_x != step_x[successor]) | (step_y != step_y[successor])
        chosen = order[turns[order]]
        x = edges.corner_x(chosen) + 0.5 * _DX[direction[chosen]]
        y = edges.corner_y(chosen) + 0.5 * _DY[direction[chosen]]
    loop_of = label[chosen]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(loop_of)) + 1, [len(chosen)]]).astype(np.int64)
    points = np.column_stack([x - 1.5 + offset[2], y - 1.5 + offset[1]])
    edge_starts = np.concatenate([[0], np.flatnonzero(np.diff(label[order])) + 1, [len(order)]]).astype(np.int64)
    holes, tops, columns = _loop_kinds(edges, order, edge_starts)
    slices = edges.slice_of(chosen[starts[:-1]]) + offset[0]
    return _sorted(Loops(points, starts, slices, holes, tops + offset[1], columns + offset[2]))


@dataclass(frozen=True)
class _Edges:
    """Unit boundary edges: start corner (as a vertex id on the corner lattice) and direction."""

    start: IntArray
    direction: IntArray
    row_stride: int
    slice_stride: int

    def corner_x(self, edges: IntArray) -> IntArray:
        return self.start[edges] % self.row_stride  # type: ignore[no-any-return]

    def corner_y(self, edges: IntArray) -> IntArray:
        return (self.start[edges] % self.slice_stride) // self.row_stride  # type: ignore[no-any-return]

    def slice_of(self, edges: IntArray) -> IntArray:
        return self.start[edges] // self.slice_stride  # type: ignore[no-any-return]

    @property
    def deltas(self) -> IntArray:
        return np.array([1, self.row_stride, -1, -self.row_stride], dtype=np.int64)


def _boundary_edges(crop: BoolArray) -> _Edges:
    """Every side between a foreground and a background pixel (the crop padded by one pixel of
    background), directed with the foreground on its right (y down). Corner ``(r, c)`` is the
    top-left corner of padded pixel ``(r, c)`` and has that pixel's flat index as its id (the
    padding keeps every corner used inside the padded array)."""
    slices, rows, columns = crop.shape
    padded = np.zeros((slices, rows + 2, columns + 2), dtype=bool)
    padded[:, 1:-1, 1:-1] = crop
    flat = padded.reshape(-1)
    row_stride = columns + 2
    # Horizontal sides: pixel i above pixel i + row_stride (padding rows never pair across slices).
    upper = np.flatnonzero(flat[row_stride:] != flat[:-row_stride])
    below = flat[upper + row_stride]  # foreground below: the top side of a pixel, run +x
    horizontal_start = upper + row_stride + np.where(below, 0, 1)
    # Vertical sides: pixel i left of pixel i + 1 (padding columns never pair across rows).
    left = np.flatnonzero(flat[1:] != flat[:-1])
    right = flat[left + 1]  # foreground to the right: the left side of a pixel, run -y
    vertical_start = left + 1 + np.where(right, row_stride, 0)
    return _Edges(
        np.concatenate([horizontal_start, vertical_start]).astype(np.int64),
        np.concatenate([np.where(below, 0, 2), np.where(right, 3, 1)]).astype(np.int64),
        row_stride,
        (rows + 2) * row_stride,
    )


def _successors(edges: _Edges) -> tuple[IntArray, BoolArray]:
    """The next edge along the boundary after each edge, and whether each edge starts at a
    corner where two boundaries meet (two edges leave it). There the turn to the left of the
    direction of travel is taken: it goes around the background voxel of the corner, keeping
    the two diagonal foreground voxels in one outline (8-connected foreground)."""
    start, direction = edges.start, edges.direction
    end = start + edges.deltas[direction]
    order = np.argsort(start, kind="stable")
    ordered = start[order]
    first = np.searchsorted(ordered, end)
    second = np.minimum(first + 1, len(ordered) - 1)
    two_leave = (second != first) & (ordered[second] == end)
    candidate, other = order[first], order[second]
    left = (direction + 3) % 4
    successor = np.where(two_leave & (direction[candidate] != left), other, candidate)
    shared = np.zeros(len(start), dtype=bool)
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    shared[order[repeated]] = True
    shared[order[repeated + 1]] = True
    return successor, shared


def _cycles(successor: IntArray) -> tuple[IntArray, IntArray]:
    """For each edge: its cycle's label (the smallest edge index in the cycle) and its distance
    from that edge along the cycle, both by pointer jumping (O(edges x log(longest cycle)))."""
    count = len(successor)
    label = np.arange(count)
    jump = successor.copy()
    while True:
        # label[e] = smallest index among the next 2^t edges; unchanged for every edge means the
        # whole cycle is covered (label[e] <= label[e + w] around a cycle forces equality).
        merged = np.minimum(label, label[jump])
        if np.array_equal(merged, label):
            break
        label = merged
        jump = jump[jump]
    leader = label == np.arange(count)
    back = np.empty(count, dtype=np.int64)
    back[successor] = np.arange(count)
    back[leader] = np.flatnonzero(leader)
    distance = (~leader).astype(np.int64)
    while not np.array_equal(back, label):
        distance = distance + distance[back]
        back = back[back]
    return label, distance


def _loop_kinds(edges: _Edges, order: IntArray, starts: IntArray) -> tuple[BoolArray, IntArray, IntArray]:
    """Per loop (edges in ``order``, loop ``n`` from ``starts[n]``): hole or not, the row of its
    top edge and the column of the pixel below that edge's left end. The topmost-leftmost edge
    of a loop is horizontal; it runs +x (foreground below) on an outer boundary and -x
    (foreground above) on a hole."""
    direction = edges.direction[order]
    left_end = edges.start[order] - (direction == 2)
    key = np.where(direction % 2 == 0, left_end, np.iinfo(np.int64).max)
    loop = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    first = np.lexsort((key, loop))[starts[:-1]]
    holes = direction[first] == 2
    corner = left_end[first]
    return holes, (corner % edges.slice_stride) // edges.row_stride - 1, corner % edges.row_stride - 1


def _sorted(loops: Loops) -> Loops:
    """Loops by slice, then top row, then column: a stable order for the file."""
    order = np.lexsort((loops.columns, loops.tops, loops.slices))
    sizes = loops.sizes[order]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    pieces = [loops.loop(int(n)) for n in order]
    points = np.concatenate(pieces) if pieces else loops.points
    return Loops(points, starts, loops.slices[order], loops.holes[order], loops.tops[order], loops.columns[order])
