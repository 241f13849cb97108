"""Imbalance-aware losses (the loss family lands with its issue) and class weights."""

from kerasimb.losses.margin import MarginLoss, margin_loss
from kerasimb.losses.weights import class_weights
from kerasimb.losses.class_balanced import ClassBalancedLoss, class_balanced_loss
from kerasimb.losses.focal import FocalLoss, focal_loss
from kerasimb.losses.ldam import LDAMLoss, ldam_loss, ldam_margins
from kerasimb.losses.logit_adjusted import LogitAdjustedLoss, logit_adjusted_loss
from kerasimb.losses.lookup import LOSSES, get
from kerasimb.losses.center import CenterLoss, center_loss, center_update
from kerasimb.losses.triplet import TripletLoss, triplet_loss
from kerasimb.losses.supcon import (
    SupConLoss, contrastive_loss_from_logits, supervised_contrastive_loss)
from kerasimb.losses.unified_contrastive import UnifiedContrastiveLoss, unified_contrastive_loss

__all__ = [
    "ClassBalancedLoss", "class_balanced_loss", "FocalLoss", "focal_loss", "LDAMLoss",
    "ldam_loss", "ldam_margins", "LogitAdjustedLoss", "logit_adjusted_loss", "LOSSES", "get",
    "MarginLoss", "margin_loss", "class_weights",
    "CenterLoss", "center_loss", "center_update", "TripletLoss", "triplet_loss", "SupConLoss",
    "contrastive_loss_from_logits", "supervised_contrastive_loss", "UnifiedContrastiveLoss",
    "unified_contrastive_loss"]
