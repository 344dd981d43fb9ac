import { csi } from '../gen/proto.js';
import { unaryMethod } from '../meta/grpc-method.js';

/** The protobuf messages of proto/csi.proto (the Container Storage Interface, v1). */
export import csipb = csi.v1;

/** The CSI Identity service as a grpc-js service definition, keyed by camelCase method name. */
export const csiIdentityService = {
  getPluginInfo: unaryMethod('csi.v1.Identity', 'GetPluginInfo', csipb.GetPluginInfoRequest, csipb.GetPluginInfoResponse),
  getPluginCapabilities: unaryMethod('csi.v1.Identity', 'GetPluginCapabilities', csipb.GetPluginCapabilitiesRequest, csipb.GetPluginCapabilitiesResponse),
  probe: unaryMethod('csi.v1.Identity', 'Probe', csipb.ProbeRequest, csipb.ProbeResponse),
} as const;

/** The CSI Controller service: the RPCs proto/csi.proto declares. */
export const csiControllerService = {
  createVolume: unaryMethod('csi.v1.Controller', 'CreateVolume', csipb.CreateVolumeRequest, csipb.CreateVolumeResponse),
  deleteVolume: unaryMethod('csi.v1.Controller', 'DeleteVolume', csipb.DeleteVolumeRequest, csipb.DeleteVolumeResponse),
  validateVolumeCapabilities: unaryMethod('csi.v1.Controller', 'ValidateVolumeCapabilities', csipb.ValidateVolumeCapabilitiesRequest, csipb.ValidateVolumeCapabilitiesResponse),
  getCapacity: unaryMethod('csi.v1.Controller', 'GetCapacity', csipb.GetCapacityRequest, csipb.GetCapacityResponse),
  controllerGetCapabilities: unaryMethod('csi.v1.Controller', 'ControllerGetCapabilities', csipb.ControllerGetCapabilitiesRequest, csipb.ControllerGetCapabilitiesResponse),
  controllerExpandVolume: unaryMethod('csi.v1.Controller', 'ControllerExpandVolume', csipb.ControllerExpandVolumeRequest, csipb.ControllerExpandVolumeResponse),
  createSnapshot: unaryMethod('csi.v1.Controller', 'CreateSnapshot', csipb.CreateSnapshotRequest, csipb.CreateSnapshotResponse),
  deleteSnapshot: unaryMethod('csi.v1.Controller', 'DeleteSnapshot', csipb.DeleteSnapshotRequest, csipb.DeleteSnapshotResponse),
  listSnapshots: unaryMethod('csi.v1.Controller', 'ListSnapshots', csipb.ListSnapshotsRequest, csipb.ListSnapshotsResponse),
} as const;

/** The CSI Node service. */
export const csiNodeService = {
  nodeStageVolume: unaryMethod('csi.v1.Node', 'NodeStageVolume', csipb.NodeStageVolumeRequest, csipb.NodeStageVolumeResponse),
  nodeUnstageVolume: unaryMethod('csi.v1.Node', 'NodeUnstageVolume', csipb.NodeUnstageVolumeRequest, csipb.NodeUnstageVolumeResponse),
  nodePublishVolume: unaryMethod('csi.v1.Node', 'NodePublishVolume', csipb.NodePublishVolumeRequest, csipb.NodePublishVolumeResponse),
  nodeUnpublishVolume: unaryMethod('csi.v1.Node', 'NodeUnpublishVolume', csipb.NodeUnpublishVolumeRequest, csipb.NodeUnpublishVolumeResponse),
  nodeGetVolumeStats: unaryMethod('csi.v1.Node', 'NodeGetVolumeStats', csipb.NodeGetVolumeStatsRequest, csipb.NodeGetVolumeStatsResponse),
  nodeExpandVolume: unaryMethod('csi.v1.Node', 'NodeExpandVolume', csipb.NodeExpandVolumeRequest, csipb.NodeExpandVolumeResponse),
  nodeGetCapabilities: unaryMethod('csi.v1.Node', 'NodeGetCapabilities', csipb.NodeGetCapabilitiesRequest, csipb.NodeGetCapabilitiesResponse),
  nodeGetInfo: unaryMethod('csi.v1.Node', 'NodeGetInfo', csipb.NodeGetInfoRequest, csipb.NodeGetInfoResponse),
} as const;
