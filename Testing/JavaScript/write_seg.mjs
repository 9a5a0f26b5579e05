// Writes a Label Map SEG with @cornerstonejs/adapters (OHIF's exporter, generateSegmentation with the
// Label Map SOP Class) from a label volume on a reference CT series.
//   node write_seg.mjs REQUEST.json OUT.dcm
// REQUEST.json: {"files": [CT paths, ordered as the label slices], "labels": raw uint16 path (slice by slice),
//                "segments": [{"number", "label", "color"}], "transferSyntaxUid": "..."}
import fs from "node:fs";
import dcmjs from "dcmjs";
import { metaData } from "@cornerstonejs/core";
import { adaptersSEG } from "@cornerstonejs/adapters";

const [, , requestPath, outPath] = process.argv;
const request = JSON.parse(fs.readFileSync(requestPath, "utf8"));
const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

const readInstance = (path) => {
  const buffer = fs.readFileSync(path);
  const message = DicomMessage.readFile(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
  const dataset = DicomMetaDictionary.naturalizeDataset(message.dict);
  dataset._meta = DicomMetaDictionary.namifyDataset(message.meta);
  return dataset;
};
const instances = request.files.map(readInstance);
const byId = new Map(instances.map((dataset, k) => [`ct:${k}`, dataset]));

const studyKeys = ["StudyInstanceUID", "StudyID", "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName",
  "PatientName", "PatientID", "PatientBirthDate", "PatientSex"];
const seriesKeys = ["SeriesInstanceUID", "SeriesNumber", "Modality", "FrameOfReferenceUID"];
const pick = (dataset, keys) => Object.fromEntries(keys.filter((key) => key in dataset).map((key) => [key, dataset[key]]));
metaData.addProvider((type, imageId) => {
  const dataset = byId.get(imageId);
  if (!dataset) return undefined;
  switch (type) {
    case "StudyData":
      return pick(dataset, studyKeys);
    case "SeriesData":
      return pick(dataset, seriesKeys);
    case "ImageData":
    case "instance":
      return dataset;
    case "imagePlaneModule": {
      const orientation = dataset.ImageOrientationPatient.map(Number);
      return {
        frameOfReferenceUID: dataset.FrameOfReferenceUID,
        rows: dataset.Rows,
        columns: dataset.Columns,
        imageOrientationPatient: orientation,
        rowCosines: orientation.slice(0, 3),
        columnCosines: orientation.slice(3),
        imagePositionPatient: dataset.ImagePositionPatient.map(Number),
        sliceThickness: Number(dataset.SliceThickness),
        pixelSpacing: dataset.PixelSpacing.map(Number),
      };
    }
    default:
      return undefined;
  }
}, 10000);

const rows = instances[0].Rows;
const columns = instances[0].Columns;
const frame = rows * columns;
const labelBytes = fs.readFileSync(request.labels);
const labels = new Uint16Array(labelBytes.buffer, labelBytes.byteOffset, labelBytes.byteLength / 2);
const images = instances.map((dataset, k) => ({ imageId: `ct:${k}`, voxelManager: { getScalarData: () => new Int16Array(frame) } }));
const labelmaps2D = instances.map((_, k) => {
  const pixelData = labels.slice(k * frame, (k + 1) * frame);
  return { pixelData, rows, columns, segmentsOnLabelmap: [...new Set(pixelData)].filter(Boolean) };
});
const metadata = [];
for (const segment of request.segments) {
  metadata[segment.number] = {
    SegmentNumber: segment.number,
    SegmentLabel: segment.label,
    SegmentAlgorithmType: "MANUAL",
    SegmentedPropertyCategoryCodeSequence: { CodeValue: "91723000", CodingSchemeDesignator: "SCT", CodeMeaning: "Anatomical Structure" },
    SegmentedPropertyTypeCodeSequence: { CodeValue: "85756007", CodingSchemeDesignator: "SCT", CodeMeaning: "Tissue" },
    RecommendedDisplayCIELabValue: dcmjs.data.Colors.rgb2DICOMLAB(segment.color.map((value) => value / 255)).map(Math.round),
  };
}
const labelmap3D = { labelmaps2D, metadata, segmentsOnLabelmap: request.segments.map((segment) => segment.number) };
const result = adaptersSEG.Cornerstone3D.Segmentation.generateSegmentation(images, labelmap3D, metaData, {
  sopClassUID: "1.2.840.10008.5.1.4.1.1.66.7",
  transferSyntaxUid: request.transferSyntaxUid,
});
fs.writeFileSync(outPath, Buffer.from(dcmjs.data.datasetToBuffer(result.dataset)));
console.log(JSON.stringify({ frames: Number(result.dataset.NumberOfFrames), bits: Number(result.dataset.BitsAllocated) }));
