-- An inbox delivery has no row of its own any more: the notification is the inbox entry,
-- delivered by the commit that wrote it, and ListDeliveries and the notify facts show it under
-- the notification's id. This saves a row and its index entries for every notification.
--
-- A recipient's deliveries are listed newest first from both tables: the notifications by
-- (recipient, id) as the deliveries are.
CREATE INDEX notifications_recipient_id ON notifications (recipient, id);
-- The rows written for inbox deliveries before (status delivered, at the notification's
-- creation) say nothing their notifications do not; they had no attempt rows.
DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE channel = 1);
DELETE FROM deliveries WHERE channel = 1;
