// Reads a DICOM SEG with @cornerstonejs/adapters (OHIF's reader) onto a reference stack
// described in a JSON file; writes one label value per voxel (uint16, slice by slice) to OUT.
import fs from "node:fs";
import { metaData, cache } from "@cornerstonejs/core";
import { adaptersSEG } from "@cornerstonejs/adapters";

const [, , referenceJson, segPath, outPath] = process.argv;
const reference = JSON.parse(fs.readFileSync(referenceJson, "utf8"));
const byId = new Map(reference.images.map((image) => [image.imageId, image]));
const [rowCosines, columnCosines] = [reference.orientation.slice(0, 3), reference.orientation.slice(3)];
const provider = (type, imageId) => {
  const image = byId.get(imageId);
  if (!image) return undefined;
  switch (type) {
    case "imagePlaneModule":
      return {
        frameOfReferenceUID: reference.frameOfReferenceUID,
        rows: reference.rows,
        columns: reference.columns,
        imageOrientationPatient: reference.orientation,
        rowCosines,
        columnCosines,
        imagePositionPatient: image.position,
        sliceThickness: reference.sliceThickness,
        pixelSpacing: reference.pixelSpacing,
        rowPixelSpacing: reference.pixelSpacing[0],
        columnPixelSpacing: reference.pixelSpacing[1],
      };
    case "imagePixelModule":
      return { samplesPerPixel: 1, photometricInterpretation: "MONOCHROME2", rows: reference.rows, columns: reference.columns,
               bitsAllocated: 16, bitsStored: 16, highBit: 15, pixelRepresentation: 1 };
    case "generalSeriesModule":
      return { seriesInstanceUID: reference.seriesInstanceUID, modality: "CT" };
    case "generalImageModule":
      return { sopInstanceUID: image.sopInstanceUID };
    case "sopCommonModule":
      return { sopInstanceUID: image.sopInstanceUID, sopClassUID: image.sopClassUID };
    case "instance":
      return {
        SOPInstanceUID: image.sopInstanceUID, SOPClassUID: image.sopClassUID, ImagePositionPatient: image.position,
        ImageOrientationPatient: reference.orientation, PixelSpacing: reference.pixelSpacing, Rows: reference.rows,
        Columns: reference.columns, FrameOfReferenceUID: reference.frameOfReferenceUID, SeriesInstanceUID: reference.seriesInstanceUID,
      };
    default:
      return undefined;
  }
};
metaData.addProvider(provider, 10000);
const imageIds = reference.images.map((image) => image.imageId);
const buffer = fs.readFileSync(segPath);
const arrayBuffer = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
const result = await adaptersSEG.Cornerstone3D.Segmentation.createFromDICOMSegBuffer(imageIds, arrayBuffer, { metadataProvider: metaData });
const frame = reference.rows * reference.columns;
const out = new Uint16Array(frame * imageIds.length);
const layers = Array.isArray(result.labelMapImages[0]) ? result.labelMapImages : [result.labelMapImages];
layers.forEach((images) => images.forEach((image, k) => {
  const data = image.getPixelData();
  for (let i = 0; i < frame; i++) if (data[i]) out[k * frame + i] = data[i];
}));
fs.writeFileSync(outPath, Buffer.from(out.buffer));
console.log(JSON.stringify({ layers: layers.length, segments: Object.keys(result.segMetadata.data || {}).length, overlapping: !!result.overlappingSegments }));
