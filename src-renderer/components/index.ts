/** The admin app's component kit: pages build from these so every page looks and behaves alike. */
export { Badge, type BadgeTone } from './Badge';
export { Button, type ButtonProps } from './Button';
export { Card, type CardProps } from './Card';
export { Confirm, type ConfirmProps } from './Confirm';
export { Dialog, type DialogProps } from './Dialog';
export { EmptyState } from './EmptyState';
export { download, downloadDataUrl } from './download';
export { describeError } from './errors';
export { Field, Input, Select, Textarea, type SelectOption } from './Field';
export { Spinner } from './Spinner';
export { Table, type Column, type TableProps } from './Table';
export { toast, Toaster, useToasts } from './Toast';
